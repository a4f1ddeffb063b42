using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models.Flux;
using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>SkipSparse, AesMask capture and StepCache on the FLUX transformer (CPU reference semantics).</summary>
public class FluxSparseForwardTests
{
    private const int GridHeight = 4, GridWidth = 5, Tokens = GridHeight * GridWidth, TextTokens = 5, Dim = 16;
    private const int DoubleBlocks = 4, SingleBlocks = 2;
    private const int PipelineGrid = 8, PipelineTokens = PipelineGrid * PipelineGrid;

    private readonly CpuBackend _cpu = new();

    /// <summary>4 double + 2 single blocks, D = 16 (2 heads × 8), uneven RoPE axes (2, 2, 4), 16 input channels.</summary>
    private static FluxTransformerConfig Config() => new()
    {
        InChannels = 16, OutChannels = 16, NumLayers = DoubleBlocks, NumSingleLayers = SingleBlocks, AttentionHeadDim = 8, NumAttentionHeads = 2,
        JointAttentionDim = 12, PooledProjectionDim = 10, GuidanceEmbeds = true, AxesDimsRope = [2, 2, 4],
    };

    private FluxTransformer2DModel Model() => new(new WeightReader(new RandomWeightSource(21), _cpu), Config());

    /// <summary>Forward inputs: hidden, context, pooled, timestep, img_ids, txt_ids, guidance.</summary>
    /// <param name="textPositions">Random non-zero text position ids (FluxPipeline's are zeros, which rotate nothing).</param>
    private Tensor[] Inputs(int batch, int seed = 1, bool textPositions = true) =>
    [
        _cpu.Upload(TestData.Random(batch * Tokens * 16, seed), new Shape(batch, Tokens, 16)),
        _cpu.Upload(TestData.Random(batch * TextTokens * 12, seed + 1), new Shape(batch, TextTokens, 12)),
        _cpu.Upload(TestData.Random(batch * 10, seed + 2), new Shape(batch, 10)),
        _cpu.Upload(Enumerable.Repeat(0.6f, batch).ToArray(), new Shape(batch)),
        _cpu.Upload(FluxLatentPacking.LatentImageIds(GridHeight, GridWidth), new Shape(Tokens, 3)),
        _cpu.Upload(textPositions ? TestData.Random(TextTokens * 3, seed + 3, 0f, 7f) : FluxLatentPacking.TextIds(TextTokens), new Shape(TextTokens, 3)),
        _cpu.Upload(Enumerable.Repeat(3.5f, batch).ToArray(), new Shape(batch)),
    ];

    private float[] Run(FluxTransformer2DModel model, Tensor[] x, SparseForward? sparse)
        => _cpu.Download(model.Forward(x[0], x[1], x[2], x[3], x[4], x[5], x[6], sparse));

    private static Tensor[] WithTimestep(Tensor[] x, Tensor timestep) => [x[0], x[1], x[2], timestep, x[4], x[5], x[6]];

    private static SparseForward Sparse(int[] focus)
    {
        var sparse = new SparseForward();
        sparse.SetFocus(focus, Tokens);
        return sparse;
    }

    private static void Begin(SparseForward sparse, StepKind kind, int? condBatchIndex = 0, AffinityCapture? capture = null)
    {
        sparse.BeginStep(kind, capture);
        sparse.BeginForward(0, condBatchIndex);
    }

    [Fact]
    public void A_sparse_forward_whose_focus_is_every_token_equals_the_dense_forward()
    {
        var model = Model();
        Tensor[] x = Inputs(batch: 2);
        float[] dense = Run(model, x, null);
        var sparse = Sparse(Enumerable.Range(0, Tokens).ToArray());
        Begin(sparse, StepKind.FullFillCache);
        TestData.AssertClose(dense, Run(model, x, sparse), 0, "fill step");
        Begin(sparse, StepKind.Sparse);
        double err = GoldenTensors.RelativeMaxError(dense, Run(model, x, sparse));
        Assert.True(err <= 1e-5, $"sparse vs dense: {err:E3}");
    }

    [Fact]
    public void With_changed_inputs_a_sparse_forward_over_every_token_uses_no_stale_row()
    {
        // Every image row is a focus row and text rows are always fresh, so nothing of the fill step may show.
        var model = Model();
        Tensor[] x = Inputs(batch: 1);
        var sparse = Sparse(Enumerable.Range(0, Tokens).ToArray());
        Begin(sparse, StepKind.FullFillCache);
        Run(model, x, sparse);
        Tensor[] moved = WithTimestep(x, _cpu.Upload([0.1f], new Shape(1)));
        Begin(sparse, StepKind.Sparse);
        double err = GoldenTensors.RelativeMaxError(Run(model, moved, null), Run(model, moved, sparse));
        Assert.True(err <= 1e-5, $"sparse vs dense on new inputs: {err:E3}");
    }

    [Theory]
    [InlineData(true, new[] { 11, 0, 19, 3, 4, 7 })]
    [InlineData(false, new[] { 11, 0, 19, 3, 4, 7 })]
    [InlineData(true, new int[0])]
    public void With_unchanged_inputs_any_focus_subset_reproduces_the_dense_forward(bool textPositions, int[] focus)
    {
        // Background rows come from the caches of the fill step; with the same inputs they are what a dense forward
        // computes, so the assembled output equals it for any focus set. The focus rows' queries carry their own
        // rotary rows (gathered from the full table, unsorted focus order here), so a wrong gather shows. An empty focus
        // set (every image row cached) still runs the text queries.
        var model = Model();
        Tensor[] x = Inputs(batch: 2, seed: 5, textPositions);
        float[] dense = Run(model, x, null);
        var sparse = Sparse(focus);
        Begin(sparse, StepKind.FullFillCache, condBatchIndex: 1);
        Run(model, x, sparse);
        // Per double block: attention output and FFN output; per single block: the image rows of its delta. [B, N, D] fp32 each.
        Assert.Equal((2L * DoubleBlocks + SingleBlocks) * 2 * Tokens * Dim * sizeof(float), sparse.CacheBytes);
        Begin(sparse, StepKind.Sparse, condBatchIndex: 1);
        double err = GoldenTensors.RelativeMaxError(dense, Run(model, x, sparse));
        Assert.True(err <= 1e-5, $"sparse vs dense: {err:E3}");
    }

    [Fact]
    public void Background_rows_keep_the_fill_steps_values_when_inputs_change()
    {
        var model = Model();
        Tensor[] x = Inputs(batch: 1);
        var sparse = Sparse([0, 1, 2, 9]);
        Begin(sparse, StepKind.FullFillCache);
        Run(model, x, sparse);
        Tensor[] moved = WithTimestep(x, _cpu.Upload([0.1f], new Shape(1)));
        float[] denseMoved = Run(model, moved, null);
        Begin(sparse, StepKind.Sparse);
        float[] sparseMoved = Run(model, moved, sparse);
        Assert.True(TestData.MaxAbsDiff(denseMoved, sparseMoved) > 1e-4, "stale background rows must show");
    }

    [Fact]
    public void A_sparse_step_without_a_fill_step_names_the_missing_cache()
    {
        var model = Model();
        var sparse = Sparse([0, 1]);
        Begin(sparse, StepKind.Sparse);
        var e = Assert.Throws<InvalidOperationException>(() => Run(model, Inputs(1), sparse));
        Assert.Contains("cache-fill step must precede", e.Message);
    }

    private static SparseForward AttentionOnly(int[] focus)
    {
        var sparse = new SparseForward(sparseFeedForward: false);
        sparse.SetFocus(focus, Tokens);
        return sparse;
    }

    [Fact]
    public void With_sparse_ffn_off_a_sparse_forward_over_every_token_equals_the_dense_forward()
    {
        var model = Model();
        Tensor[] x = Inputs(batch: 2);
        var sparse = AttentionOnly(Enumerable.Range(0, Tokens).ToArray());
        Begin(sparse, StepKind.FullFillCache);
        TestData.AssertClose(Run(model, x, null), Run(model, x, sparse), 0, "fill step");
        Tensor[] moved = WithTimestep(x, _cpu.Upload([0.1f, 0.1f], new Shape(2)));
        Begin(sparse, StepKind.Sparse);
        double err = GoldenTensors.RelativeMaxError(Run(model, moved, null), Run(model, moved, sparse));
        Assert.True(err <= 1e-5, $"sparse vs dense on new inputs: {err:E3}");
    }

    [Fact]
    public void With_sparse_ffn_off_the_caches_hold_attention_only_and_unchanged_inputs_reproduce_the_dense_forward()
    {
        var model = Model();
        Tensor[] x = Inputs(batch: 2, seed: 5);
        var sparse = AttentionOnly([11, 0, 19, 3, 4, 7]);
        Begin(sparse, StepKind.FullFillCache, condBatchIndex: 1);
        Run(model, x, sparse);
        // Per double block its attention output, per single block the image rows of its attention before proj_out:
        // no FFN cache and no single-stream delta cache. [B, N, D] fp32 each.
        Assert.Equal((long)(DoubleBlocks + SingleBlocks) * 2 * Tokens * Dim * sizeof(float), sparse.CacheBytes);
        Assert.Throws<InvalidOperationException>(() => sparse.Cached(0, FluxTransformerBlock.FeedForwardCache));
        Assert.Throws<InvalidOperationException>(() => sparse.Cached(DoubleBlocks, FluxSingleTransformerBlock.DeltaCache));
        Assert.Equal([2, Tokens, Dim], sparse.Cached(DoubleBlocks, FluxSingleTransformerBlock.AttentionCache).Shape.ToArray());
        Begin(sparse, StepKind.Sparse, condBatchIndex: 1);
        double err = GoldenTensors.RelativeMaxError(Run(model, x, null), Run(model, x, sparse));
        Assert.True(err <= 1e-5, $"sparse vs dense: {err:E3}");
    }

    [Fact]
    public void Sparse_ffn_off_changes_a_sparse_step_after_the_inputs_moved()
    {
        var model = Model();
        Tensor[] x = Inputs(batch: 1);
        Tensor[] moved = WithTimestep(x, _cpu.Upload([0.1f], new Shape(1)));
        float[] SparseStep(SparseForward sparse)
        {
            Begin(sparse, StepKind.FullFillCache);
            Run(model, x, sparse);
            Begin(sparse, StepKind.Sparse);
            return Run(model, moved, sparse);
        }
        float[] on = SparseStep(Sparse([0, 1, 2, 9])), off = SparseStep(AttentionOnly([0, 1, 2, 9]));
        Assert.True(TestData.MaxAbsDiff(on, off) > 1e-4, "sparse_ffn off must change the sparse step's output");
        Assert.True(TestData.MaxAbsDiff(Run(model, moved, null), off) > 1e-4, "stale attention rows must still show");
    }

    [Fact]
    public void Attention_only_single_stream_block_projects_cached_background_attention_with_the_fresh_mlp_of_every_row()
    {
        // The block against its own parts (the same generated weights): the attention output is the current one on the
        // text and focus rows and the fill step's on the background rows; the MLP branch is the current input's on every
        // row; proj_out and the gate apply to all of it.
        const int heads = 2, headDim = 8, batch = 2, joint = TextTokens + Tokens;
        int[] focus = [6, 2, 13];
        var w = new WeightReader(new RandomWeightSource(29), _cpu);
        var block = new FluxSingleTransformerBlock(w, Dim, heads, headDim);
        var norm = new AdaLayerNormZeroSingle(w.Scope("norm"), Dim);
        var projMlp = LinearLayer.Load(w, "proj_mlp", Dim, 4 * Dim);
        var attention = new FluxAttention(w.Scope("attn"), Dim, heads, headDim, joint: false, preOnly: true);
        var projOut = LinearLayer.Load(w, "proj_out", 5 * Dim, Dim);

        float[] ids = [.. TestData.Random(TextTokens * 3, 60, 0f, 7f), .. FluxLatentPacking.LatentImageIds(GridHeight, GridWidth)];
        var posEmbed = new FluxPosEmbed(FluxTransformer2DModel.RopeTheta, [2, 2, 4]);
        var (cos, sin) = posEmbed.Compute(ids, joint);
        var rope = new FluxRotaryTable(_cpu.Upload(cos, new Shape(joint, posEmbed.Pairs)), _cpu.Upload(sin, new Shape(joint, posEmbed.Pairs)));
        Tensor temb = _cpu.Upload(TestData.Random(batch * Dim, 61), new Shape(batch, Dim));
        Tensor filled = _cpu.Upload(TestData.Random(batch * joint * Dim, 62), new Shape(batch, joint, Dim));
        Tensor current = _cpu.Upload(TestData.Random(batch * joint * Dim, 63), new Shape(batch, joint, Dim));

        var sparse = AttentionOnly(focus);
        Begin(sparse, StepKind.FullFillCache);
        block.Forward(_cpu.Copy(filled), temb, rope, TextTokens, sparse, layer: 0);
        Begin(sparse, StepKind.Sparse);
        Tensor actual = _cpu.Copy(current);
        block.Forward(actual, temb, rope, TextTokens, sparse, layer: 0, FluxQueryRows.Create(_cpu, sparse, rope, batch, TextTokens, Tokens));

        float[] staleAttention = _cpu.Download(attention.Forward(norm.Forward(filled, temb).Normed, rope));
        var (normed, gate) = norm.Forward(current, temb);
        float[] mixed = _cpu.Download(attention.Forward(normed, rope));
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < Tokens; t++)
                if (!focus.Contains(t))
                    staleAttention.AsSpan((b * joint + TextTokens + t) * Dim, Dim).CopyTo(mixed.AsSpan((b * joint + TextTokens + t) * Dim, Dim));
        Tensor attentionRows = _cpu.Upload(mixed, new Shape(batch, joint, Dim));
        Tensor expected = _cpu.Copy(current);
        _cpu.AddGatedInPlace(expected, projOut.Forward(_cpu.Concat(2, attentionRows, projMlp.Forward(normed, Activation.GeluTanh))), gate);
        double err = GoldenTensors.RelativeMaxError(_cpu.Download(expected), _cpu.Download(actual));
        Assert.True(err <= 1e-5, $"attention-only single block vs its parts: {err:E3}");
    }

    private (AesMaskBuilder Builder, AffinityCapture Capture) NewCapture(float[] weights)
    {
        var options = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Flux) with { MaskStep = 2 };
        var builder = new AesMaskBuilder(options, DoubleBlocks, GridHeight, GridWidth, weights);
        return (builder, new AffinityCapture(builder, weights));
    }

    [Fact]
    public void Capture_does_not_change_the_output_and_fills_the_heat_map_from_the_double_stream_capture_layers()
    {
        var model = Model();
        Tensor[] x = Inputs(batch: 1);
        float[] weights = [0f, 1f, 0.5f, 0.25f, 1f];
        var (builder, capture) = NewCapture(weights);
        var sparse = new SparseForward();
        Begin(sparse, StepKind.FullCaptureMask, condBatchIndex: 0, capture);
        float[] captured = Run(model, x, sparse);
        TestData.AssertClose(Run(model, x, null), captured, 0, "capture must not change the output");
        // FLUX's stride 3 over 4 double-stream blocks: 0 and 3; the single-stream blocks never capture.
        Assert.Equal([0, 3], builder.CaptureLayers);
        Assert.Equal([0, 3], builder.Accumulator.AddedLayers.Order());
        float[] heat = builder.Accumulator.Result();
        Assert.Equal(Tokens, heat.Length);
        Assert.All(heat, h => Assert.True(h > 0 && h < 1, $"heat {h}"));
        Assert.True(heat.Max() - heat.Min() > 1e-4, "the heat map must vary over the image");
        Assert.Equal(0, sparse.CacheBytes);
        FocusMask mask = builder.Build();
        Assert.Equal(Tokens, mask.TokenCount);
    }

    [Fact]
    public void Capture_keeps_the_conditional_batch_row()
    {
        // A batched true-CFG forward is [negative, positive]: capturing row 1 of that batch must give the heat map of
        // the positive item alone.
        var model = Model();
        Tensor[] pair = Inputs(batch: 2, seed: 7);
        Tensor[] positive =
        [
            _cpu.Slice(pair[0], 0, 1, 1), _cpu.Slice(pair[1], 0, 1, 1), _cpu.Slice(pair[2], 0, 1, 1), _cpu.Slice(pair[3], 0, 1, 1),
            pair[4], pair[5], _cpu.Slice(pair[6], 0, 1, 1),
        ];
        float[] weights = [1f, 0.2f, 0f, 0.7f, 0.4f];
        var (batched, batchedCapture) = NewCapture(weights);
        var sparse = new SparseForward();
        Begin(sparse, StepKind.FullCaptureMask, condBatchIndex: 1, batchedCapture);
        Run(model, pair, sparse);
        var (single, singleCapture) = NewCapture(weights);
        Begin(sparse, StepKind.FullCaptureMask, condBatchIndex: 0, singleCapture);
        Run(model, positive, sparse);
        TestData.AssertClose(single.Accumulator.Result(), batched.Accumulator.Result(), 1e-6, "heat of the conditional row");
    }

    [Fact]
    public void Capture_reduces_the_joint_softmax_of_post_rope_image_queries_on_the_text_keys()
    {
        // One double-stream attention against a host reference built from the same weights: q/k projected,
        // RMS-normalised per head, rotated by their own rows of the table ([text, image] order), then the image-query ×
        // text-key block of the softmax over all L + N keys, weighted — AesMask's accumulator fed with those q and k.
        const int heads = 2, headDim = 8, batch = 2, cond = 1;
        var source = new RandomWeightSource(17);
        var attention = new FluxAttention(new WeightReader(source, _cpu).Scope("attn"), Dim, heads, headDim, joint: true, preOnly: false);
        float[] image = TestData.Random(batch * Tokens * Dim, 50), text = TestData.Random(batch * TextTokens * Dim, 51);
        float[] ids = [.. TestData.Random(TextTokens * 3, 52, 0f, 7f), .. FluxLatentPacking.LatentImageIds(GridHeight, GridWidth)];
        var posEmbed = new FluxPosEmbed(FluxTransformer2DModel.RopeTheta, [2, 2, 4]);
        var (cos, sin) = posEmbed.Compute(ids, TextTokens + Tokens);
        var tableShape = new Shape(TextTokens + Tokens, posEmbed.Pairs);
        var rope = new FluxRotaryTable(_cpu.Upload(cos, tableShape), _cpu.Upload(sin, tableShape));

        float[] weights = [0.3f, 1f, 0f, 0.6f, 0.1f];
        var options = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Flux) with { MaskStep = 2, CaptureLayers = [0] };
        var builder = new AesMaskBuilder(options, 1, GridHeight, GridWidth, weights);
        var sparse = new SparseForward();
        Begin(sparse, StepKind.FullCaptureMask, condBatchIndex: cond, new AffinityCapture(builder, weights));
        attention.Forward(_cpu.Upload(image, new Shape(batch, Tokens, Dim)), _cpu.Upload(text, new Shape(batch, TextTokens, Dim)), rope, sparse, layer: 0);

        float[] Project(string name, string norm, float[] x, int rows, int rowOffset, int tableOffset)
        {
            float[] w = source.Tensors[$"attn.{name}.weight"].Values, b = source.Tensors[$"attn.{name}.bias"].Values, g = source.Tensors[$"attn.{norm}.weight"].Values;
            var y = new float[rows * Dim];
            for (int r = 0; r < rows; r++)
            {
                for (int o = 0; o < Dim; o++)
                {
                    double acc = b[o];
                    for (int i = 0; i < Dim; i++) acc += (double)w[o * Dim + i] * x[(rowOffset + r) * Dim + i];
                    y[r * Dim + o] = (float)acc;
                }
                for (int h = 0; h < heads; h++)
                {
                    int at = r * Dim + h * headDim;
                    double ms = 0;
                    for (int i = 0; i < headDim; i++) ms += (double)y[at + i] * y[at + i];
                    double inv = 1 / Math.Sqrt(ms / headDim + 1e-6);
                    for (int i = 0; i < headDim; i++) y[at + i] = (float)(y[at + i] * inv * g[i]);
                    for (int pair = 0; pair < headDim / 2; pair++)
                    {
                        float c = cos[(tableOffset + r) * posEmbed.Pairs + pair], sn = sin[(tableOffset + r) * posEmbed.Pairs + pair];
                        float a = y[at + 2 * pair], bb = y[at + 2 * pair + 1];
                        (y[at + 2 * pair], y[at + 2 * pair + 1]) = (a * c - bb * sn, bb * c + a * sn);
                    }
                }
            }
            return y;
        }

        float[] imageQueries = Project("to_q", "norm_q", image, Tokens, cond * Tokens, TextTokens);
        float[] jointKeys =
        [
            .. Project("add_k_proj", "norm_added_k", text, TextTokens, cond * TextTokens, 0),
            .. Project("to_k", "norm_k", image, Tokens, cond * Tokens, TextTokens),
        ];
        var reference = new HeatMapAccumulator(Tokens, weights);
        reference.AddJointAttention(0, imageQueries, heads, headDim, jointKeys, TextTokens + Tokens, textStart: 0, 1f / MathF.Sqrt(headDim));
        TestData.AssertClose(reference.Result(), builder.Accumulator.Result(), 1e-5, "captured heat vs host reference");
    }

    private static FlowMatchEulerSchedulerConfig Scheduler() => new() { Shift = 3.0, UseDynamicShifting = true };

    private Dictionary<string, Tensor> PipelineInputs(int batch, bool negatives)
    {
        var inputs = new Dictionary<string, Tensor>
        {
            ["prompt_embeds"] = _cpu.Upload(TestData.Random(batch * TextTokens * 12, 31), new Shape(batch, TextTokens, 12)),
            ["pooled_prompt_embeds"] = _cpu.Upload(TestData.Random(batch * 10, 32), new Shape(batch, 10)),
            ["latents"] = _cpu.Upload(TestData.Random(batch * PipelineTokens * 16, 33), new Shape(batch, PipelineTokens, 16)),
        };
        if (negatives)
        {
            inputs["negative_prompt_embeds"] = _cpu.Upload(TestData.Random(batch * TextTokens * 12, 34), new Shape(batch, TextTokens, 12));
            inputs["negative_pooled_prompt_embeds"] = _cpu.Upload(TestData.Random(batch * 10, 35), new Shape(batch, 10));
        }
        return inputs;
    }

    /// <summary>A 128×128-pixel image: a 16×16 latent, packed into an 8×8 token grid (room for a blurred mask with holes).</summary>
    private static DenoiseSettings Settings(int steps, AccelerationOptions? acceleration = null, Action<AcceleratedRunReport>? report = null,
        GuidanceMode mode = GuidanceMode.Batched, float[]? textWeights = null) => new()
    {
        Steps = steps, GuidanceScale = 3.5f, Scheduler = Scheduler(), Height = 128, Width = 128, GuidanceMode = mode,
        Acceleration = acceleration, OnAccelerationReport = report, TextWeights = textWeights,
    };

    /// <summary>AesMask at step 2, SkipSparse on, StepCache after 2 warmup steps (the FLUX preset has no mask of its own).</summary>
    private static AccelerationOptions MaskedSparse() => AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Flux) with
    {
        MaskStep = 2, Warmup = 2, SkipSparse = true, StdThreshold = 0.0,
    };

    [Fact]
    public void Interval_one_without_a_mask_equals_dense_sampling()
    {
        var pipeline = new FluxPipeline(Model());
        var inputs = PipelineInputs(1, negatives: false);
        float[] dense = _cpu.Download(pipeline.Denoise(inputs, Settings(5)));
        AcceleratedRunReport? report = null;
        var options = AccelerationOptions.ForPreset(AccelerationPreset.None, Backbone.Flux);
        float[] accelerated = _cpu.Download(pipeline.Denoise(inputs, Settings(5, options, r => report = r)));
        Assert.Equal(dense, accelerated);
        Assert.Equal([0, 1, 2, 3, 4], report!.StepsRun);
        Assert.Null(report.Mask);
    }

    [Fact]
    public void An_accelerated_run_executes_exactly_the_schedule_it_reports()
    {
        var model = Model();
        var inputs = PipelineInputs(1, negatives: false);
        var sigmas = FluxPipeline.Schedule(12, PipelineTokens, Scheduler());
        var options = MaskedSparse() with { Steps = 12, GuidanceScale = 3.5 };
        var cond = new FluxConditioning(inputs["prompt_embeds"], inputs["pooled_prompt_embeds"]);
        var counting = new CountingPredictor(new FluxDenoiser(model, cond, PipelineGrid, PipelineGrid, 3.5f));
        var report = AcceleratedSampling.Run(_cpu.Copy(inputs["latents"]), sigmas, options,
            new AccelerationGeometry(PipelineGrid, PipelineGrid, 2 * PipelineGrid, 2 * PipelineGrid, model.DoubleBlockCount), counting, [0f, 1f, 1f, 0.5f, 0f]);
        Assert.Equal(report.Schedule.ComputedIndices, report.StepsRun);
        Assert.Equal(report.StepsRun, counting.Steps);
        Assert.Equal(report.Schedule.SparseCount, report.SparseForwards);
        Assert.Equal(report.Schedule.SkippedCount, report.Skipped);
        Assert.True(report.Skipped > 0 && report.SparseForwards > 0, $"{report.Skipped} skipped, {report.SparseForwards} sparse");
        Assert.NotNull(report.Mask);
        Assert.False(report.Mask!.Fallback);
        Assert.InRange(report.Mask.FocusIndices.Length, 1, PipelineTokens - 1);
        Assert.Equal(StepKind.FullCaptureMask, report.Schedule[2].Kind);
        Assert.Equal(StepKind.FullFillCache, report.Schedule[3].Kind);
        Assert.Equal((2L * DoubleBlocks + SingleBlocks) * PipelineTokens * Dim * sizeof(float), report.PeakCacheBytes);
    }

    [Fact]
    public void The_pipeline_passes_sparse_ffn_to_the_forwards()
    {
        var pipeline = new FluxPipeline(Model());
        var inputs = PipelineInputs(1, negatives: false);
        AcceleratedRunReport? on = null, off = null;
        float[] a = _cpu.Download(pipeline.Denoise(inputs, Settings(12, MaskedSparse(), r => on = r)));
        float[] b = _cpu.Download(pipeline.Denoise(inputs, Settings(12, MaskedSparse().With("sparse_ffn", "off"), r => off = r)));
        Assert.Equal(on!.StepsRun, off!.StepsRun);
        Assert.True(off.SparseForwards > 0);
        Assert.True(TestData.MaxAbsDiff(a, b) > 1e-5, "sparse_ffn off must change the image");
        // Attention only: one [N, D] cache per double and per single block (the FFN caches are gone).
        Assert.Equal((long)(DoubleBlocks + SingleBlocks) * PipelineTokens * Dim * sizeof(float), off.PeakCacheBytes);
        Assert.True(off.Schedule.RelativeCost > on.Schedule.RelativeCost);
    }

    [Fact]
    public void The_pipeline_runs_the_accelerated_loop_and_reports_it()
    {
        var pipeline = new FluxPipeline(Model());
        var inputs = PipelineInputs(1, negatives: false);
        AcceleratedRunReport? report = null;
        int steps = 0;
        float[] accelerated = _cpu.Download(pipeline.Denoise(inputs, Settings(12, MaskedSparse(), r => report = r), (_, _) => steps++));
        float[] dense = _cpu.Download(pipeline.Denoise(inputs, Settings(12)));
        Assert.Equal(12, steps);
        Assert.NotNull(report);
        Assert.Equal(12, report!.Schedule.Count);
        Assert.True(report.SparseForwards > 0 && report.Skipped > 0);
        Assert.False(report.Mask!.Fallback);
        Assert.All(accelerated, v => Assert.True(float.IsFinite(v)));
        Assert.True(TestData.MaxAbsDiff(dense, accelerated) > 1e-5, "skipped and sparse steps must change the result");
    }

    [Fact]
    public void True_cfg_batched_and_two_pass_give_the_same_accelerated_run()
    {
        // Batched [negative, positive] captures row 1; two passes capture pass 0 (positive) and keep caches per pass.
        var pipeline = new FluxPipeline(Model()) { TrueCfgScale = 3f };
        var inputs = PipelineInputs(1, negatives: true);
        AcceleratedRunReport? batched = null, twoPass = null;
        float[] a = _cpu.Download(pipeline.Denoise(inputs, Settings(12, MaskedSparse(), r => batched = r, GuidanceMode.Batched)));
        float[] b = _cpu.Download(pipeline.Denoise(inputs, Settings(12, MaskedSparse(), r => twoPass = r, GuidanceMode.TwoPass)));
        Assert.Equal(batched!.Mask!.FocusIndices, twoPass!.Mask!.FocusIndices);
        Assert.True(batched.SparseForwards > 0);
        TestData.AssertClose(a, b, 1e-5, "batched vs two-pass accelerated true CFG");
    }

    [Fact]
    public void Accelerated_sampling_takes_one_prompt_at_a_time()
    {
        var pipeline = new FluxPipeline(Model());
        var e = Assert.Throws<AccelAesException>(() => pipeline.Denoise(PipelineInputs(2, negatives: false), Settings(4, MaskedSparse())));
        Assert.Contains("one prompt at a time", e.Message);
    }

    [Fact]
    public void Text_weights_must_cover_the_text_tokens()
    {
        var pipeline = new FluxPipeline(Model());
        var e = Assert.Throws<AccelAesException>(() =>
            pipeline.Denoise(PipelineInputs(1, negatives: false), Settings(4, MaskedSparse(), textWeights: [1f, 0f])));
        Assert.Contains("5 text tokens", e.Message);
    }

    [Fact]
    public void Options_refuse_spatial_cfg_and_the_denoiser_refuses_a_spatial_map()
    {
        var options = MaskedSparse() with { SpatialCfg = true };
        Assert.Contains(options.Validate(), m => m.StartsWith("spatial_cfg:", StringComparison.Ordinal));

        var model = Model();
        var inputs = PipelineInputs(1, negatives: false);
        var denoiser = new FluxDenoiser(model, new FluxConditioning(inputs["prompt_embeds"], inputs["pooled_prompt_embeds"]), PipelineGrid, PipelineGrid, 3.5f);
        var sigmas = FluxPipeline.Schedule(4, PipelineTokens, Scheduler());
        var map = GuidanceScaleMap.FromMap(TestData.Random(4 * PipelineTokens, 40, 1f, 5f), 2 * PipelineGrid, 2 * PipelineGrid);
        var e = Assert.Throws<AccelAesException>(() => denoiser.Predict(inputs["latents"], 0, sigmas, new SparseForward(), () => map));
        Assert.Contains("spatial_cfg off", e.Message);
    }

    private sealed class CountingPredictor(IAcceleratedPredictor inner) : IAcceleratedPredictor
    {
        public List<int> Steps { get; } = [];

        public Tensor Predict(Tensor latents, int step, SigmaSchedule sigmas, SparseForward sparse, Func<GuidanceScaleMap> guidance)
        {
            Steps.Add(step);
            return inner.Predict(latents, step, sigmas, sparse, guidance);
        }
    }
}
