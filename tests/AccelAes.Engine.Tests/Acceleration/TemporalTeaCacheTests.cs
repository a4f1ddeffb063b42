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
/// <c>--accel accelaes --set temporal=teacache</c> on Lumina-Next (the backbone whose preset runs every spatial
/// component: AesMask, SkipSparse, spatial CFG): TeaCache's adaptive rule in place of StepCache's stride.
/// </summary>
public class TemporalTeaCacheTests
{
    private const int Side = 12, Grid = Side / 2, Caption = LuminaSparseForwardTests.Caption;

    private readonly CpuBackend _cpu = new();
    private readonly LuminaNextDiT2DModel _model;

    public TemporalTeaCacheTests() => _model = LuminaSparseForwardTests.Model(_cpu, kvHeads: 2, sharedQuery: true);

    private Tensor Latents() => _cpu.Upload(TestData.Random(4 * Side * Side, 41, -2f, 2f), new Shape(1, 4, Side, Side));

    private LuminaDenoiser Denoiser(GuidanceMode mode = GuidanceMode.Batched) => new(_model, new LuminaConditioning(
        _cpu.Upload(TestData.Random(Caption * 12, 42), new Shape(1, Caption, 12)), _cpu.Upload([1, 1, 1, 1, 1, 0], new Shape(1, Caption)),
        _cpu.Upload(TestData.Random(Caption * 12, 43), new Shape(1, Caption, 12)), _cpu.Upload([1, 1, 0, 0, 0, 0], new Shape(1, Caption))),
        4f, 1000, null, mode);

    private static readonly float[] Weights = [0.2f, 1f, 0f, 0.6f, 0.9f, 0f];

    /// <summary>The Lumina accelaes preset scaled down to 12 steps (mask step 2, fill step 3, sparse after), then the overrides.</summary>
    private static AccelerationOptions Options(params string[] overrides)
    {
        var options = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina) with
        {
            Steps = 12, GuidanceScale = 4, MaskStep = 2, Warmup = 2, StdThreshold = 0.0,
        };
        foreach (string o in overrides) options = options.With(o[..o.IndexOf('=')], o[(o.IndexOf('=') + 1)..]);
        return options.Validated();
    }

    private (float[] Latents, AcceleratedRunReport Report) Run(AccelerationOptions options, GuidanceMode mode = GuidanceMode.Batched)
    {
        Tensor x = Latents();
        var report = AcceleratedSampling.Run(x, new FlowMatchEulerScheduler(new FlowMatchEulerSchedulerConfig()).SetTimesteps(12),
            options, new AccelerationGeometry(Grid, Grid, Side, Side, _model.LayerCount), Denoiser(mode), Weights);
        return (_cpu.Download(x), report);
    }

    [Fact]
    public void Threshold_zero_equals_accelaes_with_StepCache_disabled_bit_for_bit()
    {
        // StepCache disabled: interval 1 (no skips), warmup 0; the spatial plan (mask, fill, sparse) is the same.
        var (stepCacheOff, a) = Run(Options("interval=1", "warmup=0"));
        var (teaCacheNever, b) = Run(Options("temporal=teacache", "rel_l1_thresh=0"));
        Assert.Equal("FFMCSSSSSSSS", a.Schedule.ToLetters());
        Assert.Equal(a.Schedule.ToLetters(), b.Schedule.ToLetters());
        Assert.Equal(a.StepsRun, b.StepsRun);
        Assert.Equal(a.SparseForwards, b.SparseForwards);
        Assert.Equal(stepCacheOff, teaCacheNever);
    }

    [Fact]
    public void TeaCache_changes_the_schedule_StepCache_would_run_and_forces_the_mask_and_fill_steps()
    {
        var (stepCache, s) = Run(Options());
        Assert.Contains('X', s.Schedule.ToLetters());
        // A threshold no accumulated change reaches: only the first, mask capture, cache fill and last steps compute.
        var (lazy, t) = Run(Options("temporal=teacache", "rel_l1_thresh=1000"));
        Assert.Equal("FXMCXXXXXXXS", t.Schedule.ToLetters());
        Assert.NotEqual(s.Schedule.ToLetters(), t.Schedule.ToLetters());
        Assert.Equal([0, 2, 3, 11], t.StepsRun);
        Assert.Equal((1, 8), (t.SparseForwards, t.Skipped));
        Assert.NotNull(t.Mask);
        Assert.NotEqual(stepCache, lazy);
        Assert.All(lazy, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void The_coefficients_knob_decides_and_a_reused_step_after_a_sparse_one_is_reported()
    {
        // A constant polynomial 1 with threshold 1.5: after each computed step one reuse (acc 1), then a compute (acc 2);
        // steps 0, 2 (mask), 3 (fill) and 11 (last) are forced. Step 6 reuses the residual of sparse step 5.
        var (mixed, r) = Run(Options("temporal=teacache", "rel_l1_thresh=1.5", "coefficients=1"));
        Assert.Equal("FXMCXSXSXSXS", r.Schedule.ToLetters());
        Assert.Equal(r.Schedule.ComputedIndices, r.StepsRun);
        Assert.Equal((4, 5), (r.SparseForwards, r.Skipped));
        var (never, _) = Run(Options("temporal=teacache", "rel_l1_thresh=0"));
        Assert.NotEqual(never, mixed);
        Assert.All(mixed, v => Assert.True(float.IsFinite(v)));
        var (_, eager) = Run(Options("temporal=teacache", "rel_l1_thresh=1.5", "coefficients=2"));
        Assert.Equal("FFMCSSSSSSSS", eager.Schedule.ToLetters());
    }

    [Fact]
    public void The_temporal_knob_validates_and_replaces_StepCache_knobs()
    {
        AccelerationOptions o = Options("temporal=teacache");
        Assert.Equal((TemporalRule.TeaCache, 1, 0, true), (o.Temporal, o.Interval, o.Warmup, o.UsesTemporalTeaCache));
        Assert.Equal(0.3, o.EffectiveRelL1Threshold);
        Assert.Contains(new KeyValuePair<string, string>("temporal", "teacache"), o.KnobValues());
        Assert.Contains("interval: temporal=teacache decides", Assert.Throws<AccelAesException>(() => Options("temporal=teacache", "interval=2")).Message);
        Assert.Contains("warmup: temporal=teacache has no warmup", Assert.Throws<AccelAesException>(() => Options("temporal=teacache", "warmup=3")).Message);
        Assert.Contains("extrapolation: temporal=teacache reuses", Assert.Throws<AccelAesException>(() => Options("temporal=teacache", "extrapolation=index")).Message);
        Assert.Contains("temporal: 'sometimes' is not", Assert.Throws<AccelAesException>(() => Options("temporal=sometimes")).Message);
        Assert.Contains("temporal: replaces StepCache",
            Assert.Throws<AccelAesException>(() => AccelerationRequest.Parse("fora", ["temporal=teacache"]).Resolve(Backbone.Lumina, 30, 4)).Message);
        Assert.Equal(TemporalRule.StepCache, AccelerationRequest.Parse("accelaes", []).Resolve(Backbone.Lumina, 30, 4).Temporal);
    }

    [Fact]
    public void Two_pass_CFG_is_refused_naming_the_fix()
    {
        var e = Assert.Throws<AccelAesException>(() => Run(Options("temporal=teacache"), GuidanceMode.TwoPass));
        Assert.Contains("temporal=teacache: runs one transformer call per step", e.Message);
        Assert.Contains("--cfg-mode Batched", e.Message);
    }
}
