using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>
/// SkipSparse and AesMask capture on the Lumina-Next transformer (CPU reference semantics, reference §1.4 / §2.1):
/// attn1 queries and the SwiGLU on focus tokens, background rows from the fill step's caches; attn2 dense and, in
/// capture layers, reduced against the caption-key weights of the conditional branch.
/// </summary>
public class LuminaSparseForwardTests
{
    internal const int GridH = 4, GridW = 5, Tokens = GridH * GridW, Caption = 6, Layers = 5, BaseSequenceLength = 64;

    private readonly CpuBackend _cpu = new();

    /// <summary>A tiny Lumina-Next: 4 query heads of 8, <paramref name="kvHeads"/> kv heads (2 = GQA), 5 layers (capture every 4th: 0 and 4).</summary>
    internal static LuminaNextDiTConfig Config(int kvHeads) => new()
    {
        SampleSize = 16, PatchSize = 2, InChannels = 4, HiddenSize = 32, NumLayers = Layers, NumAttentionHeads = 4, NumKvHeads = kvHeads,
        MultipleOf = 16, LearnSigma = true, QkNorm = true, CrossAttentionDim = 12,
    };

    /// <summary>
    /// Random weights; with <paramref name="sharedQuery"/> attn2's query path holds attn1's values, as converted
    /// checkpoints do, so the block reuses one query for both attentions (the real model's path).
    /// </summary>
    internal static LuminaNextDiT2DModel Model(CpuBackend cpu, int kvHeads, bool sharedQuery, int seed = 17)
    {
        var config = Config(kvHeads);
        var source = new RandomWeightSource(seed);
        if (sharedQuery)
        {
            (string Name, Shape Shape)[] query =
                [("to_q.weight", new Shape(config.QueryDim, config.HiddenSize)), ("norm_q.weight", new Shape(config.QueryDim)), ("norm_q.bias", new Shape(config.QueryDim))];
            for (int i = 0; i < config.NumLayers; i++)
                foreach (var (name, shape) in query)
                    source.Add($"layers.{i}.attn2.{name}", shape, cpu.Download(source.Load($"layers.{i}.attn1.{name}", shape, cpu)));
        }
        var model = new LuminaNextDiT2DModel(new WeightReader(source, cpu), config);
        Assert.Equal(sharedQuery ? Layers : 0, model.LayersSharingQuery);
        return model;
    }

    private sealed record Inputs(Tensor Latents, Tensor Timestep, Tensor Captions, Tensor Mask, LuminaRotaryTable Table);

    /// <summary>Batch [cond, uncond]: captions of 6 tokens, the conditional one with 2 padding tokens, the other with 4.</summary>
    private Inputs MakeInputs(float time = 0.3f)
    {
        Tensor latents = _cpu.Upload(TestData.Random(2 * 4 * 8 * 10, 1, -2f, 2f), new Shape(2, 4, 8, 10));
        Tensor captions = _cpu.Upload(TestData.Random(2 * Caption * 12, 2), new Shape(2, Caption, 12));
        Tensor mask = _cpu.Upload([1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0], new Shape(2, Caption));
        return new Inputs(latents, _cpu.Upload([time, time], new Shape(2)), captions, mask,
            LuminaRotaryTable.Create(Config(4).HeadDim, GridH, GridW, linearFactor: 0.9));
    }

    private float[] Run(LuminaNextDiT2DModel model, Inputs x, SparseForward? sparse)
        => _cpu.Download(model.Forward(x.Latents, x.Timestep, x.Captions, x.Mask, x.Table, BaseSequenceLength, sparse));

    private static SparseForward Begin(SparseForward sparse, StepKind kind, AffinityCapture? capture = null, int? cond = 0)
    {
        sparse.BeginStep(kind, capture);
        sparse.BeginForward(0, cond);
        return sparse;
    }

    public static TheoryData<int, bool> Variants => new() { { 4, false }, { 2, false }, { 2, true } };

    [Theory]
    [MemberData(nameof(Variants))]
    public void Full_and_fill_steps_equal_the_plain_forward_bit_for_bit(int kvHeads, bool sharedQuery)
    {
        var model = Model(_cpu, kvHeads, sharedQuery);
        var x = MakeInputs();
        float[] dense = Run(model, x, null);
        var sparse = new SparseForward();
        sparse.SetFocus([1, 2, 7], Tokens);
        Assert.Equal(dense, Run(model, x, Begin(sparse, StepKind.Full)));
        Assert.Equal(0, sparse.CacheBytes);
        Assert.Equal(dense, Run(model, x, Begin(sparse, StepKind.FullFillCache)));
        // Per layer: A_self [2, N, 4·8] and the FFN output [2, N, 32], fp32.
        Assert.Equal(Layers * (2L * Tokens * 32 + 2L * Tokens * 32) * 4, sparse.CacheBytes);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void A_sparse_forward_whose_focus_is_every_token_equals_the_dense_forward(int kvHeads, bool sharedQuery)
    {
        var model = Model(_cpu, kvHeads, sharedQuery);
        var x = MakeInputs();
        float[] dense = Run(model, x, null);
        var sparse = new SparseForward();
        sparse.SetFocus(Enumerable.Range(0, Tokens).ToArray(), Tokens);
        Run(model, x, Begin(sparse, StepKind.FullFillCache));

        // New inputs: with every token in focus no cached row is used, so the sparse forward is the dense one.
        var moved = MakeInputs(time: 0.8f) with { Latents = _cpu.Upload(TestData.Random(2 * 4 * 8 * 10, 5, -2f, 2f), new Shape(2, 4, 8, 10)) };
        float[] denseMoved = Run(model, moved, null);
        float[] sparseMoved = Run(model, moved, Begin(sparse, StepKind.Sparse));
        double error = GoldenTensors.RelativeMaxError(denseMoved, sparseMoved);
        Assert.True(error <= 1e-5, $"relative error {error:E3}");
        Assert.True(TestData.MaxAbsDiff(dense, denseMoved) > 1e-2, "the moved inputs must change the output");
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void With_unchanged_inputs_any_focus_subset_reproduces_the_dense_forward(int kvHeads, bool sharedQuery)
    {
        // Background rows come from the fill step's caches; with the same inputs they are what a dense forward
        // computes, so the assembled output equals it for any focus set — which also checks that focus queries use
        // the proportional scale of all N tokens, not of the focus count.
        var model = Model(_cpu, kvHeads, sharedQuery);
        var x = MakeInputs();
        float[] dense = Run(model, x, null);
        foreach (int[] focus in new[] { new[] { 0, 3, 4, 11, 19 }, new[] { 7 }, Enumerable.Range(0, Tokens - 1).ToArray() })
        {
            var sparse = new SparseForward();
            sparse.SetFocus(focus, Tokens);
            Run(model, x, Begin(sparse, StepKind.FullFillCache));
            double error = GoldenTensors.RelativeMaxError(dense, Run(model, x, Begin(sparse, StepKind.Sparse)));
            Assert.True(error <= 1e-5, $"focus [{string.Join(",", focus)}]: relative error {error:E3}");
        }
    }

    [Fact]
    public void Background_rows_keep_the_fill_steps_values_and_focus_rows_are_fresh_when_inputs_change()
    {
        var model = Model(_cpu, 2, sharedQuery: true);
        var x = MakeInputs();
        int[] focus = [0, 1, 2, 9];
        var sparse = new SparseForward();
        sparse.SetFocus(focus, Tokens);
        Run(model, x, Begin(sparse, StepKind.FullFillCache));
        var filled = new Dictionary<(int, string), float[]>();
        foreach (int layer in Enumerable.Range(0, Layers))
            foreach (string name in new[] { LuminaNextDiTBlock.SelfAttentionCache, LuminaNextDiTBlock.FeedForwardCache })
                filled[(layer, name)] = _cpu.Download(sparse.Cached(layer, name));

        var moved = MakeInputs(time: 0.9f);
        float[] denseMoved = Run(model, moved, null);
        float[] sparseMoved = Run(model, moved, Begin(sparse, StepKind.Sparse));
        Assert.True(TestData.MaxAbsDiff(denseMoved, sparseMoved) > 1e-4, "stale background rows must show in the output");

        foreach (var ((layer, name), before) in filled)
        {
            float[] after = _cpu.Download(sparse.Cached(layer, name));
            int width = before.Length / (2 * Tokens);
            for (int b = 0; b < 2; b++)
                for (int t = 0; t < Tokens; t++)
                {
                    var rowBefore = before.AsSpan((b * Tokens + t) * width, width);
                    var rowAfter = after.AsSpan((b * Tokens + t) * width, width);
                    if (focus.Contains(t))
                        Assert.True(TestData.MaxAbsDiff(rowBefore, rowAfter) > 0, $"layer {layer} {name}: focus row {b}/{t} was not recomputed");
                    else
                        Assert.True(rowBefore.SequenceEqual(rowAfter), $"layer {layer} {name}: background row {b}/{t} changed");
                }
        }
    }

    [Fact]
    public void A_sparse_step_without_a_fill_step_names_the_missing_cache()
    {
        var model = Model(_cpu, 2, sharedQuery: false);
        var sparse = new SparseForward();
        sparse.SetFocus([0, 1], Tokens);
        var e = Assert.Throws<InvalidOperationException>(() => Run(model, MakeInputs(), Begin(sparse, StepKind.Sparse)));
        Assert.Contains("'attn1' cache for layer 0", e.Message);
    }

    private static AccelerationOptions CaptureOptions => AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina);

    private (float[] Output, AesMaskBuilder Builder) Capture(LuminaNextDiT2DModel model, Inputs x, float[] weights, int? condIndex = 0)
    {
        var builder = new AesMaskBuilder(CaptureOptions, model.LayerCount, GridH, GridW, weights);
        var sparse = new SparseForward();
        float[] output = Run(model, x, Begin(sparse, StepKind.FullCaptureMask, new AffinityCapture(builder, weights), condIndex));
        return (output, builder);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Capture_leaves_the_output_unchanged_and_fills_the_heat_map_from_the_capture_layers_only(int kvHeads, bool sharedQuery)
    {
        var model = Model(_cpu, kvHeads, sharedQuery);
        var x = MakeInputs();
        float[] weights = [0.1f, 1f, 0f, 0.5f, 0f, 0f];
        var (captured, builder) = Capture(model, x, weights);
        Assert.Equal(Run(model, x, null), captured);
        Assert.Equal([0, 4], builder.Accumulator.AddedLayers.Order());
        Assert.Equal([0, 4], builder.CaptureLayers);
        float[] heat = builder.Accumulator.Result();
        Assert.Equal(Tokens, heat.Length);
        // Σ_j P·w over a softmax on the 4 real keys with weights in [0, 1] and not all equal: strictly inside (0, 1).
        Assert.All(heat, h => Assert.True(h > 0 && h < 1, $"heat {h}"));
        Assert.True(heat.Max() - heat.Min() > 1e-4, "the heat map must vary over the tokens");
    }

    [Fact]
    public void Capture_reads_the_conditional_branch_with_padding_masked()
    {
        var model = Model(_cpu, 2, sharedQuery: true);
        var x = MakeInputs();
        float[] weights = [0.1f, 1f, 0f, 0.5f, 0f, 0f];
        float[] heat = Capture(model, x, weights).Builder.Accumulator.Result();

        // Weight on the conditional caption's padding keys changes nothing: their probability is exactly 0.
        float[] onPadding = [0.1f, 1f, 0f, 0.5f, 9f, 3f];
        Assert.Equal(heat, Capture(model, x, onPadding).Builder.Accumulator.Result());

        // The conditional row alone (batch 1) gives the same heat map: the batched capture keeps row 0 (cond), not uncond.
        var condOnly = new Inputs(_cpu.Slice(x.Latents, 0, 0, 1), _cpu.Slice(x.Timestep, 0, 0, 1), _cpu.Slice(x.Captions, 0, 0, 1),
            _cpu.Slice(x.Mask, 0, 0, 1), x.Table);
        float[] single = Capture(model, condOnly, weights).Builder.Accumulator.Result();
        TestData.AssertClose(heat, single, 1e-6, "batched cond row vs cond alone");

        // A forward without a conditional branch (the uncond pass of two-pass CFG) captures nothing.
        var (_, none) = Capture(model, x, weights, condIndex: null);
        Assert.Equal(0, none.Accumulator.Layers);
    }

    [Fact]
    public void Equal_weights_on_the_real_tokens_give_a_heat_map_flat_up_to_rounding()
    {
        // Softmax rows over the unmasked caption keys sum to 1, so Σ_j P·w is the same at every image token when w is
        // equal on those keys: uniform weights carry no information on Lumina (LuminaPipeline uses zeros instead).
        var model = Model(_cpu, 2, sharedQuery: true);
        float[] uniform = Capture(model, MakeInputs(), [0.25f, 0.25f, 0.25f, 0.25f, 0f, 0f]).Builder.Accumulator.Result();
        Assert.True(uniform.Max() - uniform.Min() <= 1e-6, $"range {uniform.Max() - uniform.Min():E3}");
        Assert.All(uniform, h => Assert.Equal(0.25f, h, 1e-6f));
        Assert.All(Capture(model, MakeInputs(), new float[Caption]).Builder.Accumulator.Result(), h => Assert.Equal(0f, h));
    }

    [Fact]
    public void Capture_with_weights_for_another_caption_length_is_refused()
    {
        var model = Model(_cpu, 2, sharedQuery: false);
        var e = Assert.Throws<InvalidOperationException>(() => Capture(model, MakeInputs(), [1f, 1f, 1f]));
        Assert.Contains("3 text weights", e.Message);
    }

    [Fact]
    public void With_sparse_ffn_off_the_fill_step_keeps_only_attn1_and_a_sparse_forward_over_every_token_equals_the_dense_forward()
    {
        var model = Model(_cpu, 2, sharedQuery: true);
        var x = MakeInputs();
        var sparse = new SparseForward(sparseFeedForward: false);
        sparse.SetFocus(Enumerable.Range(0, Tokens).ToArray(), Tokens);
        Assert.Equal(Run(model, x, null), Run(model, x, Begin(sparse, StepKind.FullFillCache)));
        // Per layer only A_self [2, N, 4·8] fp32: attention-only sparsity needs no FFN cache.
        Assert.Equal(Layers * 2L * Tokens * 32 * 4, sparse.CacheBytes);
        Assert.Throws<InvalidOperationException>(() => sparse.Cached(0, LuminaNextDiTBlock.FeedForwardCache));

        var moved = MakeInputs(time: 0.8f) with { Latents = _cpu.Upload(TestData.Random(2 * 4 * 8 * 10, 5, -2f, 2f), new Shape(2, 4, 8, 10)) };
        double error = GoldenTensors.RelativeMaxError(Run(model, moved, null), Run(model, moved, Begin(sparse, StepKind.Sparse)));
        Assert.True(error <= 1e-5, $"relative error {error:E3}");
    }

    [Fact]
    public void With_sparse_ffn_off_and_unchanged_inputs_a_focus_subset_reproduces_the_dense_forward()
    {
        var model = Model(_cpu, 4, sharedQuery: false);
        var x = MakeInputs();
        var sparse = new SparseForward(sparseFeedForward: false);
        sparse.SetFocus([0, 3, 4, 11, 19], Tokens);
        Run(model, x, Begin(sparse, StepKind.FullFillCache));
        double error = GoldenTensors.RelativeMaxError(Run(model, x, null), Run(model, x, Begin(sparse, StepKind.Sparse)));
        Assert.True(error <= 1e-5, $"relative error {error:E3}");
    }

    [Fact]
    public void Sparse_ffn_off_recomputes_the_background_ffn_rows_while_attn1_background_rows_stay_cached()
    {
        // After a fill at one input, a sparse step at another: with sparse_ffn on the background FFN rows are the
        // fill step's; off they are computed from the current input, so the two outputs differ. A_self's background
        // rows come from the fill step under both settings.
        var model = Model(_cpu, 2, sharedQuery: true);
        var x = MakeInputs();
        var moved = MakeInputs(time: 0.9f);
        int[] focus = [0, 1, 2, 9];
        float[] SparseStep(bool sparseFeedForward, out SparseForward sparse)
        {
            sparse = new SparseForward(sparseFeedForward);
            sparse.SetFocus(focus, Tokens);
            Run(model, x, Begin(sparse, StepKind.FullFillCache));
            return Run(model, moved, Begin(sparse, StepKind.Sparse));
        }
        float[] on = SparseStep(true, out _), off = SparseStep(false, out var attentionOnly);
        float[] dense = Run(model, moved, null);
        Assert.True(TestData.MaxAbsDiff(on, off) > 1e-4, "sparse_ffn off must change the sparse step's output");
        Assert.True(TestData.MaxAbsDiff(dense, off) > 1e-4, "attn1's stale background rows must still show");

        var fresh = new SparseForward(sparseFeedForward: false);
        fresh.SetFocus(focus, Tokens);
        Run(model, x, Begin(fresh, StepKind.FullFillCache));
        float[] filled = _cpu.Download(fresh.Cached(0, LuminaNextDiTBlock.SelfAttentionCache));
        float[] after = _cpu.Download(attentionOnly.Cached(0, LuminaNextDiTBlock.SelfAttentionCache));
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < Tokens; t++)
            {
                var rowBefore = filled.AsSpan((b * Tokens + t) * 32, 32);
                var rowAfter = after.AsSpan((b * Tokens + t) * 32, 32);
                Assert.True(focus.Contains(t) ? TestData.MaxAbsDiff(rowBefore, rowAfter) > 0 : rowBefore.SequenceEqual(rowAfter), $"row {b}/{t}");
            }
    }
}
