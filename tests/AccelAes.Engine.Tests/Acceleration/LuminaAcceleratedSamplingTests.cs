using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>
/// AccelAes sampling on Lumina-Next (CPU): <see cref="LuminaDenoiser"/> as an <see cref="IAcceleratedPredictor"/>
/// (batched [cond, uncond] and two-pass, spatial CFG on channels 0..2, sign flip) and <see cref="LuminaPipeline"/>
/// running <see cref="AcceleratedSampling"/>.
/// </summary>
public class LuminaAcceleratedSamplingTests
{
    private const int Side = 12, Grid = Side / 2, Caption = LuminaSparseForwardTests.Caption;

    private readonly CpuBackend _cpu = new();
    private readonly LuminaNextDiT2DModel _model;

    public LuminaAcceleratedSamplingTests() => _model = LuminaSparseForwardTests.Model(_cpu, kvHeads: 2, sharedQuery: true);

    private Tensor Latents() => _cpu.Upload(TestData.Random(4 * Side * Side, 41, -2f, 2f), new Shape(1, 4, Side, Side));

    private LuminaConditioning Conditioning() => new(
        _cpu.Upload(TestData.Random(Caption * 12, 42), new Shape(1, Caption, 12)), _cpu.Upload([1, 1, 1, 1, 1, 0], new Shape(1, Caption)),
        _cpu.Upload(TestData.Random(Caption * 12, 43), new Shape(1, Caption, 12)), _cpu.Upload([1, 1, 0, 0, 0, 0], new Shape(1, Caption)));

    private LuminaDenoiser Denoiser(GuidanceMode mode = GuidanceMode.Batched, float guidance = 4f, bool guideAll = false, LuminaConditioning? c = null)
        => new(_model, c ?? Conditioning(), guidance, 1000, new LuminaPipelineOptions { GuideAllChannels = guideAll }, mode);

    private static SigmaSchedule Sigmas(int steps) => new FlowMatchEulerScheduler(new FlowMatchEulerSchedulerConfig()).SetTimesteps(steps);

    private AccelerationGeometry Geometry => new(Grid, Grid, Side, Side, _model.LayerCount);

    /// <summary>The Lumina accelaes preset scaled down: 12 steps, mask step 2, warmup 2 (AesMask, SkipSparse, spatial CFG, StepCache interval 2).</summary>
    private static AccelerationOptions ScaledDownPreset(int steps = 12) => AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina) with
    {
        Steps = steps, GuidanceScale = 4, MaskStep = 2, Warmup = 2, StdThreshold = 0.0,
    };

    private static readonly float[] Weights = [0.2f, 1f, 0f, 0.6f, 0.9f, 0f];

    [Theory]
    [InlineData(GuidanceMode.Batched, 4f)]
    [InlineData(GuidanceMode.TwoPass, 4f)]
    [InlineData(GuidanceMode.Batched, 1f)]
    public void Interval_one_without_a_mask_equals_dense_sampling(GuidanceMode mode, float guidance)
    {
        var sigmas = Sigmas(5);
        var denoiser = Denoiser(mode, guidance);
        Tensor dense = Latents(), accelerated = Latents();
        DenoiseLoop.Run(dense, sigmas, denoiser);
        var options = AccelerationOptions.ForPreset(AccelerationPreset.None, Backbone.Lumina) with { Steps = 5, GuidanceScale = guidance };
        var report = AcceleratedSampling.Run(accelerated, sigmas, options, Geometry, denoiser, Weights);
        Assert.Equal(_cpu.Download(dense), _cpu.Download(accelerated));
        Assert.Equal([0, 1, 2, 3, 4], report.StepsRun);
        Assert.Null(report.Mask);
        Assert.Equal(0, report.PeakCacheBytes);
    }

    [Theory]
    [InlineData(GuidanceMode.Batched)]
    [InlineData(GuidanceMode.TwoPass)]
    public void An_accelerated_run_executes_exactly_the_schedule_it_reports(GuidanceMode mode)
    {
        var counting = new CountingPredictor(Denoiser(mode));
        var report = AcceleratedSampling.Run(Latents(), Sigmas(12), ScaledDownPreset(), Geometry, counting, Weights);
        Assert.Equal(report.Schedule.ComputedIndices, report.StepsRun);
        Assert.Equal(report.StepsRun, counting.Steps);
        Assert.Equal(report.Schedule.SparseCount, report.SparseForwards);
        Assert.Equal(report.Schedule.SkippedCount, report.Skipped);
        Assert.True(report.Skipped > 0 && report.SparseForwards > 0, $"{report.Skipped} skipped, {report.SparseForwards} sparse");
        Assert.Equal(StepKind.FullCaptureMask, report.Schedule[2].Kind);
        Assert.Equal(StepKind.FullFillCache, report.Schedule[3].Kind);
        Assert.NotNull(report.Mask);
        Assert.False(report.Mask!.Fallback);
        Assert.False(report.Mask.IsEverything);
        Assert.NotEmpty(report.Mask.FocusIndices);
        // Both CFG branches keep caches: A_self [N, 4·8] and FFN output [N, 32] per layer and branch, fp32.
        Assert.Equal(_model.LayerCount * 2L * (Grid * Grid * 32 + Grid * Grid * 32) * 4, report.PeakCacheBytes);
    }

    [Fact]
    public void Two_pass_acceleration_equals_the_batched_one()
    {
        // Two-pass keeps one cache set per pass and captures in the conditional pass only; the batched forward keeps
        // both branches in one cache and captures its row 0. Same mask, same trajectory.
        Tensor batched = Latents(), twoPass = Latents();
        var a = AcceleratedSampling.Run(batched, Sigmas(12), ScaledDownPreset(), Geometry, Denoiser(GuidanceMode.Batched), Weights);
        var b = AcceleratedSampling.Run(twoPass, Sigmas(12), ScaledDownPreset(), Geometry, Denoiser(GuidanceMode.TwoPass), Weights);
        Assert.Equal(a.Mask!.FocusIndices, b.Mask!.FocusIndices);
        TestData.AssertClose(a.Mask.Heat, b.Mask.Heat, 1e-6, "heat map");
        double error = GoldenTensors.RelativeMaxError(_cpu.Download(batched), _cpu.Download(twoPass));
        Assert.True(error <= 1e-5, $"relative error {error:E3}");
    }

    [Fact]
    public void Sparse_steps_use_stale_background_rows()
    {
        // The same run with SkipSparse off (its mask, guidance and skips unchanged) differs: background rows are stale.
        Tensor sparse = Latents(), dense = Latents();
        var a = AcceleratedSampling.Run(sparse, Sigmas(12), ScaledDownPreset(), Geometry, Denoiser(), Weights);
        var b = AcceleratedSampling.Run(dense, Sigmas(12), ScaledDownPreset() with { SkipSparse = false }, Geometry, Denoiser(), Weights);
        Assert.Equal(a.StepsRun, b.StepsRun);
        Assert.Equal(a.Mask!.FocusIndices, b.Mask!.FocusIndices);
        Assert.Equal(0, b.SparseForwards);
        float[] s = _cpu.Download(sparse), d = _cpu.Download(dense);
        Assert.True(TestData.MaxAbsDiff(s, d) > 1e-5, "sparse steps must use cached background rows");
        Assert.All(s, v => Assert.True(float.IsFinite(v)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Spatial_guidance_touches_channels_0_to_2_only(bool guideAll)
    {
        var sigmas = Sigmas(4);
        LuminaConditioning c = Conditioning();
        Tensor latents = Latents();
        float[] map = TestData.Random(Side * Side, 44, 1f, 8f);
        var sparse = new SparseForward();
        sparse.BeginStep(StepKind.Full, null);
        float[] v = _cpu.Download(Denoiser(guideAll: guideAll, c: c).Predict(latents, 1, sigmas, sparse, () => GuidanceScaleMap.FromMap(map, Side, Side)));

        // −v of an unguided denoiser is the branch's prediction.
        float[] cond = _cpu.Download(Denoiser(guidance: 1f, c: c with { NegativePromptEmbeds = null, NegativePromptAttentionMask = null }).Predict(latents, 1, sigmas));
        float[] uncond = _cpu.Download(Denoiser(guidance: 1f, c: new LuminaConditioning(c.NegativePromptEmbeds!, c.NegativePromptAttentionMask!, null, null))
            .Predict(latents, 1, sigmas));
        int plane = Side * Side;
        var expected = new float[4 * plane];
        for (int ch = 0; ch < 4; ch++)
            for (int k = 0; k < plane; k++)
            {
                float pc = -cond[ch * plane + k], pu = -uncond[ch * plane + k];
                expected[ch * plane + k] = ch < 3 || guideAll ? -(pu + map[k] * (pc - pu)) : -pc;
            }
        TestData.AssertClose(expected, v, 1e-5, "spatially guided velocity");
        double channel3Guidance = TestData.MaxAbsDiff(cond.AsSpan(3 * plane), v.AsSpan(3 * plane));
        Assert.True(guideAll ? channel3Guidance > 1e-3 : channel3Guidance <= 1e-5, $"channel 3 moved by {channel3Guidance:E3}");
    }

    [Fact]
    public void A_uniform_scale_from_the_callback_equals_plain_guidance_bit_for_bit()
    {
        var sigmas = Sigmas(4);
        var denoiser = Denoiser();
        var sparse = new SparseForward();
        sparse.BeginStep(StepKind.Full, null);
        Tensor latents = Latents();
        Assert.Equal(_cpu.Download(denoiser.Predict(latents, 2, sigmas)),
            _cpu.Download(denoiser.Predict(latents, 2, sigmas, sparse, () => GuidanceScaleMap.UniformScale(4f, Side, Side))));
    }

    // ---- LuminaPipeline ----

    private Dictionary<string, Tensor> Named(Tensor latents, LuminaConditioning c) => new()
    {
        ["latents"] = latents,
        ["prompt_embeds"] = c.PromptEmbeds,
        ["prompt_attention_mask"] = c.PromptAttentionMask,
        ["negative_prompt_embeds"] = c.NegativePromptEmbeds!,
        ["negative_prompt_attention_mask"] = c.NegativePromptAttentionMask!,
    };

    private static DenoiseSettings Settings(int steps, AccelerationOptions? acceleration = null, float[]? weights = null,
        Action<AcceleratedRunReport>? report = null) => new()
    {
        Steps = steps, GuidanceScale = 4f, Scheduler = new FlowMatchEulerSchedulerConfig(), Acceleration = acceleration, TextWeights = weights,
        OnAccelerationReport = report,
    };

    [Fact]
    public void The_pipeline_without_acceleration_knobs_samples_exactly_as_without_acceleration()
    {
        var pipeline = new LuminaPipeline(_model);
        var c = Conditioning();
        AcceleratedRunReport? report = null;
        float[] plain = _cpu.Download(pipeline.Denoise(Named(Latents(), c), Settings(4)));
        float[] none = _cpu.Download(pipeline.Denoise(Named(Latents(), c),
            Settings(4, AccelerationOptions.ForPreset(AccelerationPreset.None, Backbone.Lumina), report: r => report = r)));
        Assert.Equal(plain, none);
        Assert.NotNull(report);
        Assert.Equal([0, 1, 2, 3], report!.StepsRun);
    }

    [Fact]
    public void The_pipeline_runs_the_scaled_down_accelaes_preset_and_reports_it()
    {
        var pipeline = new LuminaPipeline(_model);
        var c = Conditioning();
        var steps = new List<int>();
        AcceleratedRunReport? report = null;
        Tensor final = pipeline.Denoise(Named(Latents(), c), Settings(12, ScaledDownPreset(steps: 30), Weights, r => report = r),
            (i, _) => steps.Add(i));
        Assert.NotNull(report);
        Assert.Equal(12, report!.Schedule.Count); // the settings' steps win over the options'
        Assert.Equal(Enumerable.Range(0, 12), steps);
        Assert.Equal(report.Schedule.ComputedIndices, report.StepsRun);
        Assert.True(report.SparseForwards > 0 && report.Skipped > 0);
        Assert.All(_cpu.Download(final), v => Assert.True(float.IsFinite(v)));

        // The mask came from the given text weights: the same run driven directly with them builds the same heat map.
        Tensor direct = Latents();
        var expected = AcceleratedSampling.Run(direct, Sigmas(12), ScaledDownPreset(), Geometry, Denoiser(c: c), Weights);
        Assert.Equal(expected.Mask!.Heat, report.Mask!.Heat);
        Assert.Equal(_cpu.Download(direct), _cpu.Download(final));
    }

    [Fact]
    public void AesMask_weights_without_information_become_zeros()
    {
        var c = Conditioning(); // prompt mask [1, 1, 1, 1, 1, 0]
        float[] zeros = new float[Caption];
        Assert.Equal(zeros, LuminaPipeline.AesMaskWeights(c, Settings(4)));
        Assert.Equal(zeros, LuminaPipeline.AesMaskWeights(c, Settings(4, weights: [0.2f, 0.2f, 0.2f, 0.2f, 0.2f, 0f])));
        Assert.Equal(zeros, LuminaPipeline.AesMaskWeights(c, Settings(4, weights: [1f, 1f, 1f, 1f, 1f, 5f]))); // differs on padding only
        Assert.Same(Weights, LuminaPipeline.AesMaskWeights(c, Settings(4, weights: Weights)));
    }

    [Fact]
    public void Without_token_importance_the_mask_falls_back_and_no_step_is_sparse()
    {
        // The accelaes preset with no TextWeights (as `accelaes denoise` runs it: no prompt known): the heat map is
        // flat by construction, so no focus set and no sparse step; the computed steps are those the schedule printed.
        AcceleratedRunReport? report = null;
        new LuminaPipeline(_model).Denoise(Named(Latents(), Conditioning()), Settings(12, ScaledDownPreset() with { StdThreshold = 0.12 }, report: r => report = r));
        Assert.NotNull(report);
        Assert.True(report!.Mask!.Fallback);
        Assert.Equal(0, report.SparseForwards);
        Assert.Equal(0, report.PeakCacheBytes);
        Assert.Equal(StepSchedule.Create(ScaledDownPreset(), Sigmas(12)).ComputedIndices, report.StepsRun);
        Assert.Empty(report.Schedule.IndicesOf(StepKind.Sparse));
    }

    [Fact]
    public void The_pipeline_refuses_batches_and_misfit_weights_under_acceleration()
    {
        var pipeline = new LuminaPipeline(_model);
        var c = Conditioning();
        var options = ScaledDownPreset();
        var two = new LuminaConditioning(_cpu.Concat(0, c.PromptEmbeds, c.PromptEmbeds), _cpu.Concat(0, c.PromptAttentionMask, c.PromptAttentionMask),
            _cpu.Concat(0, c.NegativePromptEmbeds!, c.NegativePromptEmbeds!), _cpu.Concat(0, c.NegativePromptAttentionMask!, c.NegativePromptAttentionMask!));
        Tensor latents2 = _cpu.Concat(0, Latents(), Latents());
        var e = Assert.Throws<AccelAesException>(() => pipeline.Denoise(Named(latents2, two), Settings(12, options)));
        Assert.Contains("one prompt at a time", e.Message);
        e = Assert.Throws<AccelAesException>(() => pipeline.Denoise(Named(Latents(), c), Settings(12, options, [1f, 1f])));
        Assert.Contains("2 entries", e.Message);
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
