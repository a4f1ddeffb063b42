using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Tests.Acceleration;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Models;

/// <summary>
/// Issue 16: a Lumina generation computes its caption's attn2 keys and values (norm1_context, to_k, norm_k, to_v of every layer)
/// once, in a <see cref="LuminaCaptionContext"/>, and every step reads them. The values are those of the per-call forward bit for
/// bit (same ops on the same inputs); a step computes none of them; a new generation (a new prompt) computes them again.
/// </summary>
public class LuminaCaptionContextTests
{
    private const int Layers = LuminaSparseForwardTests.Layers, Caption = 6, CaptionDim = 12, Tokens = LuminaSparseForwardTests.Tokens;

    private readonly CpuBackend _cpu = new();

    private sealed record Inputs(Tensor Latents, Tensor Timestep, Tensor Captions, Tensor Mask, LuminaRotaryTable Table);

    private static Inputs MakeInputs(IBackend be, float time = 0.3f, int captionSeed = 2, int latentSeed = 1)
    {
        Tensor latents = be.Upload(TestData.Random(2 * 4 * 8 * 10, latentSeed, -2f, 2f), new Shape(2, 4, 8, 10));
        Tensor captions = be.Upload(TestData.Random(2 * Caption * CaptionDim, captionSeed), new Shape(2, Caption, CaptionDim));
        Tensor mask = be.Upload([1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0], new Shape(2, Caption));
        return new Inputs(latents, be.Upload([time, time], new Shape(2)), captions, mask,
            LuminaRotaryTable.Create(LuminaSparseForwardTests.Config(4).HeadDim, LuminaSparseForwardTests.GridH, LuminaSparseForwardTests.GridW,
                linearFactor: 0.9));
    }

    private float[] PerCall(LuminaNextDiT2DModel model, Inputs x, SparseForward? sparse = null)
        => _cpu.Download(model.Forward(x.Latents, x.Timestep, x.Captions, x.Mask, x.Table, LuminaSparseForwardTests.BaseSequenceLength, sparse));

    private float[] Prepared(LuminaNextDiT2DModel model, LuminaCaptionContext captions, Inputs x, SparseForward? sparse = null)
        => _cpu.Download(model.Forward(x.Latents, x.Timestep, captions, x.Table, LuminaSparseForwardTests.BaseSequenceLength, sparse));

    private static SparseForward Begin(SparseForward sparse, StepKind kind, AffinityCapture? capture = null)
    {
        sparse.BeginStep(kind, capture);
        sparse.BeginForward(0, condBatchIndex: 0);
        return sparse;
    }

    [Theory]
    [MemberData(nameof(LuminaSparseForwardTests.Variants), MemberType = typeof(LuminaSparseForwardTests))]
    public void Steps_over_one_prepared_context_equal_the_per_call_forward_bit_for_bit(int kvHeads, bool sharedQuery)
    {
        var model = LuminaSparseForwardTests.Model(_cpu, kvHeads, sharedQuery);
        var first = MakeInputs(_cpu);
        using var captions = model.PrepareCaptions(first.Captions, first.Mask);
        // Three steps of one generation (new latents and timesteps, the same caption): each equals the forward that computes
        // the caption's keys and values itself.
        for (int step = 0; step < 3; step++)
        {
            var x = first with { Latents = MakeInputs(_cpu, latentSeed: 10 + step).Latents, Timestep = _cpu.Upload([0.2f + 0.3f * step, 0.2f + 0.3f * step], new Shape(2)) };
            Assert.Equal(PerCall(model, x), Prepared(model, captions, x));
        }
    }

    [Fact]
    public void AccelAes_capture_fill_and_sparse_steps_over_a_prepared_context_equal_the_per_call_forward_bit_for_bit()
    {
        var model = LuminaSparseForwardTests.Model(_cpu, 2, sharedQuery: true);
        var x = MakeInputs(_cpu);
        using var captions = model.PrepareCaptions(x.Captions, x.Mask);
        float[] weights = [0.1f, 1f, 0f, 0.5f, 0f, 0f];
        var options = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina);

        float[] Capture(Func<SparseForward, float[]> run, out float[] heat)
        {
            var builder = new AesMaskBuilder(options, model.LayerCount, LuminaSparseForwardTests.GridH, LuminaSparseForwardTests.GridW, weights);
            float[] output = run(Begin(new SparseForward(), StepKind.FullCaptureMask, new AffinityCapture(builder, weights)));
            heat = builder.Accumulator.Result();
            return output;
        }
        Assert.Equal(Capture(s => PerCall(model, x, s), out var heatPerCall), Capture(s => Prepared(model, captions, x, s), out var heatPrepared));
        Assert.Equal(heatPerCall, heatPrepared);

        var perCall = new SparseForward();
        var prepared = new SparseForward();
        perCall.SetFocus([1, 2, 7, 11], Tokens);
        prepared.SetFocus([1, 2, 7, 11], Tokens);
        Assert.Equal(PerCall(model, x, Begin(perCall, StepKind.FullFillCache)), Prepared(model, captions, x, Begin(prepared, StepKind.FullFillCache)));
        var moved = x with { Latents = MakeInputs(_cpu, latentSeed: 5).Latents, Timestep = _cpu.Upload([0.6f, 0.6f], new Shape(2)) };
        Assert.Equal(PerCall(model, moved, Begin(perCall, StepKind.Sparse)), Prepared(model, captions, moved, Begin(prepared, StepKind.Sparse)));
    }

    [Fact]
    public void The_per_call_forward_computes_the_context_of_the_captions_it_is_given()
    {
        // No implicit cache: a second call with another caption (same tensors' shapes, same latents) reads that caption.
        var model = LuminaSparseForwardTests.Model(_cpu, 2, sharedQuery: true);
        var a = MakeInputs(_cpu);
        var b = MakeInputs(_cpu, captionSeed: 3);
        float[] outA = PerCall(model, a), outB = PerCall(model, b);
        Assert.True(TestData.MaxAbsDiff(outA, outB) > 1e-3, "another caption must change the output");
        using var captionsB = model.PrepareCaptions(b.Captions, b.Mask);
        Assert.Equal(outB, Prepared(model, captionsB, a));
    }

    [Fact]
    public void A_context_runs_only_on_the_model_that_prepared_it_and_not_after_it_is_disposed()
    {
        var model = LuminaSparseForwardTests.Model(_cpu, 2, sharedQuery: true);
        var twin = LuminaSparseForwardTests.Model(_cpu, 2, sharedQuery: true);
        var x = MakeInputs(_cpu);
        var captions = model.PrepareCaptions(x.Captions, x.Mask);
        var e = Assert.Throws<ArgumentException>(() => Prepared(twin, captions, x));
        Assert.Contains("another model", e.Message);
        captions.Dispose();
        Assert.Throws<ObjectDisposedException>(() => Prepared(model, captions, x));
        var wrongMask = Assert.Throws<ModelInputException>(() => model.PrepareCaptions(x.Captions, _cpu.Slice(x.Mask, 1, 0, 3)));
        Assert.Equal("encoder_mask", wrongMask.Argument);
    }

    // --- the pipeline: once per generation, never per step ---

    private static readonly FlowMatchEulerSchedulerConfig Scheduler = FlowMatchEulerSchedulerConfig.From(JsonConfig.Parse("scheduler_config.json",
        """{"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 1.0}"""));

    private static LuminaConditioning Conditioning(IBackend be, int promptSeed)
    {
        var x = MakeInputs(be, captionSeed: promptSeed);
        var negative = MakeInputs(be, captionSeed: 99);
        return new LuminaConditioning(be.Slice(x.Captions, 0, 0, 1), be.Slice(x.Mask, 0, 0, 1),
            be.Slice(negative.Captions, 0, 1, 1), be.Slice(negative.Mask, 0, 1, 1));
    }

    [Theory]
    [InlineData(GuidanceMode.Batched, 2)]
    [InlineData(GuidanceMode.TwoPass, 1)]
    public void The_denoiser_computes_the_caption_keys_and_values_before_its_first_step_and_no_step_recomputes_them(GuidanceMode mode, int rows)
    {
        using var counter = new CaptionOps(_cpu, new Shape(rows, Caption, CaptionDim));
        var model = LuminaSparseForwardTests.Model(_cpu, 2, sharedQuery: true);
        // The model was loaded on the CPU; its weights pass through the counter unchanged (the ops count, not the tensors).
        var conditioning = Conditioning(counter, promptSeed: 2);
        var schedule = new FlowMatchEulerScheduler(Scheduler).SetTimesteps(3);
        Tensor latents = counter.Scale(MakeInputs(counter).Latents, 1f);
        latents = counter.Slice(latents, 0, 0, 1);

        counter.Reset();
        using var denoiser = new LuminaDenoiser(model, conditioning, 4f, 1000, mode: mode);
        // Batched: one [cond, uncond] context; two-pass: the prompt's and the negative prompt's.
        int contexts = mode == GuidanceMode.Batched ? 1 : 2;
        Assert.Equal((contexts * Layers, contexts * 2 * Layers), (counter.CaptionNorms, counter.CaptionGemms));

        var perStep = new List<int>();
        for (int step = 0; step < 3; step++)
        {
            counter.Reset();
            counter.EulerStepInPlace(latents, denoiser.Predict(latents, step, schedule), schedule.StepSize(step));
            Assert.Equal((0, 0), (counter.CaptionNorms, counter.CaptionGemms));
            perStep.Add(counter.Ops);
        }
        // Step 0 also uploads the RoPE table (cos and sin, kept for the run); from then on every step queues the same ops.
        Assert.Equal(perStep[1] + 2, perStep[0]);
        Assert.Equal(perStep[1], perStep[2]);
    }

    [Fact]
    public void A_second_generation_with_another_prompt_computes_its_own_context()
    {
        var settings = new DenoiseSettings { Steps = 2, GuidanceScale = 4f, Scheduler = Scheduler, Height = 64, Width = 80 };
        Dictionary<string, Tensor> Named(IBackend be, int promptSeed)
        {
            var c = Conditioning(be, promptSeed);
            return new()
            {
                ["latents"] = be.Slice(MakeInputs(be).Latents, 0, 0, 1),
                ["prompt_embeds"] = c.PromptEmbeds, ["prompt_attention_mask"] = c.PromptAttentionMask,
                ["negative_prompt_embeds"] = c.NegativePromptEmbeds!, ["negative_prompt_attention_mask"] = c.NegativePromptAttentionMask!,
            };
        }

        using var counter = new CaptionOps(_cpu, new Shape(2, Caption, CaptionDim));
        var pipeline = new LuminaPipeline(LuminaSparseForwardTests.Model(_cpu, 2, sharedQuery: true));
        float[] first = counter.Download(pipeline.Denoise(Named(counter, promptSeed: 2), settings));
        Assert.Equal((Layers, 2 * Layers), (counter.CaptionNorms, counter.CaptionGemms));
        counter.Reset();
        float[] second = counter.Download(pipeline.Denoise(Named(counter, promptSeed: 3), settings));
        Assert.Equal((Layers, 2 * Layers), (counter.CaptionNorms, counter.CaptionGemms));

        // The second prompt's image is the one a fresh pipeline (same weights) makes of it: nothing of the first generation's
        // caption survives into the second.
        float[] fresh = _cpu.Download(new LuminaPipeline(LuminaSparseForwardTests.Model(_cpu, 2, sharedQuery: true)).Denoise(Named(_cpu, promptSeed: 3), settings));
        Assert.Equal(fresh, second);
        Assert.True(TestData.MaxAbsDiff(first, second) > 1e-3, "the prompt must change the image");
    }

    [Fact]
    public void Without_step_graphs_the_denoiser_computes_each_layers_entry_in_the_first_step_once()
    {
        // A graph-capable backend with graphs off (the CUDA backend while it streams block weights, --offload sequential): each
        // layer's keys and values are computed when the layer first runs, so a streamed block is uploaded once for both.
        using var counter = new GraphCapableCaptionOps(_cpu, new Shape(2, Caption, CaptionDim)) { GraphsEnabled = false };
        var model = LuminaSparseForwardTests.Model(_cpu, 2, sharedQuery: true);
        var schedule = new FlowMatchEulerScheduler(Scheduler).SetTimesteps(3);
        Tensor latents = counter.Slice(counter.Scale(MakeInputs(counter).Latents, 1f), 0, 0, 1);
        using var denoiser = new LuminaDenoiser(model, Conditioning(counter, promptSeed: 2), 4f, 1000);
        Assert.Equal((0, 0), (counter.CaptionNorms, counter.CaptionGemms));
        var captionOps = new List<(int, int)>();
        var velocities = new List<float[]>();
        for (int step = 0; step < 3; step++)
        {
            counter.Reset();
            Tensor v = denoiser.Predict(latents, step, schedule);
            velocities.Add(counter.Download(v));
            captionOps.Add((counter.CaptionNorms, counter.CaptionGemms));
            counter.EulerStepInPlace(latents, v, schedule.StepSize(step));
        }
        Assert.Equal([(Layers, 2 * Layers), (0, 0), (0, 0)], captionOps);

        // The same velocities as the eager context's (CPU, no graph-capable wrapper).
        Tensor reference = _cpu.Slice(_cpu.Scale(MakeInputs(_cpu).Latents, 1f), 0, 0, 1);
        using var eager = new LuminaDenoiser(model, Conditioning(_cpu, promptSeed: 2), 4f, 1000);
        for (int step = 0; step < 3; step++)
        {
            Tensor v = eager.Predict(reference, step, schedule);
            Assert.Equal(velocities[step], _cpu.Download(v));
            _cpu.EulerStepInPlace(reference, v, schedule.StepSize(step));
        }
    }

    [Fact]
    public void A_deferred_entry_is_never_computed_inside_a_graph_capture_but_a_per_call_forward_is_captured_whole()
    {
        using var be = new GraphCapableCaptionOps(_cpu, new Shape(2, Caption, CaptionDim)) { GraphsEnabled = true };
        var model = LuminaSparseForwardTests.Model(_cpu, 2, sharedQuery: true);
        var x = MakeInputs(be);
        using var deferred = model.PrepareCaptions(x.Captions, x.Mask, deferred: true);
        var e = Assert.Throws<InvalidOperationException>(() => be.Capture("step", () =>
            model.Forward(x.Latents, x.Timestep, deferred, x.Table, LuminaSparseForwardTests.BaseSequenceLength)));
        Assert.Contains("while a step graph is captured", e.Message);

        // Given raw captions inside a capture, the forward computes them in the captured work (every replay recomputes them).
        be.Reset();
        var graph = be.Capture("step", () => model.Forward(x.Latents, x.Timestep, x.Captions, x.Mask, x.Table, LuminaSparseForwardTests.BaseSequenceLength));
        Assert.Equal((Layers, 2 * Layers), (be.CaptionNorms, be.CaptionGemms));
        Assert.Equal(PerCall(model, MakeInputs(_cpu)), be.Download(graph.Output));
    }

    /// <summary>
    /// <see cref="CaptionOps"/> that says it can capture step graphs: <see cref="Capture"/> runs the work with
    /// <see cref="IsCapturing"/> set (no recording; the CPU has no graphs).
    /// </summary>
    private sealed class GraphCapableCaptionOps(IBackend inner, Shape captionShape) : CaptionOps(inner, captionShape), IGraphCapableBackend
    {
        public bool GraphsEnabled { get; init; }
        public bool IsCapturing { get; private set; }
        public GraphStatistics GraphStatistics => new(0, 0, 0, null);

        public ICapturedGraph Capture(string name, Func<Tensor> work)
        {
            IsCapturing = true;
            try
            {
                return new Ran(work());
            }
            finally
            {
                IsCapturing = false;
            }
        }

        public void FillScalars(Tensor target, float value) => throw new NotSupportedException();
        public void CountNonFiniteInto(Tensor x, Tensor counts, int slot) => throw new NotSupportedException();

        private sealed class Ran(Tensor output) : ICapturedGraph
        {
            public Tensor Output { get; } = output;
            public void Launch() => throw new NotSupportedException();
            public void Dispose() { }
        }
    }

    /// <summary>Counts ops, and those that compute a caption's keys and values: RmsNorm and Linear over a [rows, L, 12] caption.</summary>
    private class CaptionOps(IBackend inner, Shape captionShape) : DelegatingBackend(inner)
    {
        public int Ops { get; private set; }
        public int CaptionNorms { get; private set; }
        public int CaptionGemms { get; private set; }

        public void Reset() => (Ops, CaptionNorms, CaptionGemms) = (0, 0, 0);

        protected override void BeforeMatmul(string op, Shape a, Shape b, Shape? c)
        {
            if (op == nameof(IBackend.Linear) && a == captionShape) CaptionGemms++;
        }

        protected override T Call<T>(string op, Func<T> run)
        {
            Ops++;
            T result = run();
            if (op == nameof(IBackend.RmsNorm) && result is Tensor t && t.Shape == captionShape) CaptionNorms++;
            return result;
        }

        protected override void Call(string op, Action run)
        {
            Ops++;
            run();
        }
    }
}
