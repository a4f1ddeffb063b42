using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>FBCache, FORA and TaylorSeer on SD3 / SD3.5 (dual attention, context_pre_only last block) with batched CFG.</summary>
public class Sd3CachePolicyTests
{
    private readonly CpuBackend _cpu = new();

    private Sd3Pipeline Pipeline(bool sd35) => new(new Sd3Transformer2DModel(new WeightReader(new RandomWeightSource(17), _cpu), new Sd3TransformerConfig
    {
        SampleSize = 16, PatchSize = 2, InChannels = 4, OutChannels = 4, NumLayers = 3, AttentionHeadDim = 8, NumAttentionHeads = 2,
        JointAttentionDim = 12, CaptionProjectionDim = 16, PooledProjectionDim = 10, PosEmbedMaxSize = 12,
        QkNorm = sd35 ? "rms_norm" : null, DualAttentionLayers = sd35 ? [1] : [],
    }));

    private Dictionary<string, Tensor> Inputs() => new()
    {
        ["prompt_embeds"] = _cpu.Upload(TestData.Random(5 * 12, 2), new Shape(1, 5, 12)),
        ["pooled_prompt_embeds"] = _cpu.Upload(TestData.Random(10, 3), new Shape(1, 10)),
        ["negative_prompt_embeds"] = _cpu.Upload(TestData.Random(5 * 12, 4), new Shape(1, 5, 12)),
        ["negative_pooled_prompt_embeds"] = _cpu.Upload(TestData.Random(10, 5), new Shape(1, 10)),
        ["latents"] = _cpu.Upload(TestData.Random(4 * 8 * 8, 1), new Shape(1, 4, 8, 8)),
    };

    private (float[] Latents, AcceleratedRunReport? Report) Denoise(Sd3Pipeline pipeline, int steps, string? preset, GuidanceMode mode, params string[] overrides)
    {
        AcceleratedRunReport? report = null;
        var settings = new DenoiseSettings
        {
            Steps = steps, GuidanceScale = 5f, Scheduler = new FlowMatchEulerSchedulerConfig { Shift = 3.0 }, GuidanceMode = mode,
            Acceleration = preset is null ? null : AccelerationRequest.Parse(preset, overrides).Resolve(Backbone.Sd3, steps, 5),
            OnAccelerationReport = r => report = r,
        };
        return (_cpu.Download(pipeline.Denoise(Inputs(), settings)), report);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Fora_and_taylorseer_interval_one_and_fbcache_threshold_zero_equal_the_dense_run(bool sd35)
    {
        var pipeline = Pipeline(sd35);
        var (dense, _) = Denoise(pipeline, 5, null, GuidanceMode.Batched);
        var (fora, foraReport) = Denoise(pipeline, 5, "fora", GuidanceMode.Batched, "interval=1");
        var (fb, fbReport) = Denoise(pipeline, 5, "fbcache", GuidanceMode.Batched, "residual_diff_threshold=0");
        var (taylor, taylorReport) = Denoise(pipeline, 5, "taylorseer", GuidanceMode.Batched, "interval=1");
        Assert.Equal("FFFFF", taylorReport!.Schedule.ToLetters());
        Assert.Equal(dense, taylor);
        Assert.Equal("FFFFF", foraReport!.Schedule.ToLetters());
        Assert.Equal("FFFFF", fbReport!.Schedule.ToLetters());
        Assert.Equal(dense, fora);
        Assert.Equal(dense, fb);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_knobs_decide_the_executed_schedule(bool sd35)
    {
        var pipeline = Pipeline(sd35);
        var (dense, _) = Denoise(pipeline, 8, null, GuidanceMode.Batched);
        var (three, r3) = Denoise(pipeline, 8, "fora", GuidanceMode.Batched);
        var (two, r2) = Denoise(pipeline, 8, "fora", GuidanceMode.Batched, "interval=2");
        Assert.Equal("FFXXFXXF", r3!.Schedule.ToLetters());
        Assert.Equal("FFXFXFXF", r2!.Schedule.ToLetters());
        Assert.NotEqual(dense, three);
        Assert.NotEqual(three, two);
        var (lazy, lazyReport) = Denoise(pipeline, 8, "fbcache", GuidanceMode.Batched, "residual_diff_threshold=1000");
        Assert.Equal("FXXXXXXX", lazyReport!.Schedule.ToLetters());
        Assert.NotEqual(dense, lazy);
        // TaylorSeer on SD3.5's dual-attention and context_pre_only blocks: forecasts differ from reuse (max_order 0).
        var (taylor, taylorReport) = Denoise(pipeline, 8, "taylorseer", GuidanceMode.Batched, "interval=3");
        var (reuse, _) = Denoise(pipeline, 8, "taylorseer", GuidanceMode.Batched, "interval=3", "max_order=0");
        Assert.Equal("FFFXXFXX", taylorReport!.Schedule.ToLetters());
        Assert.NotEqual(taylor, reuse);
    }

    [Fact]
    public void Two_pass_CFG_is_refused_naming_the_policy_and_the_fix()
    {
        var e = Assert.Throws<AccelAesException>(() => Denoise(Pipeline(false), 3, "fora", GuidanceMode.TwoPass));
        Assert.Contains("fora: runs one transformer call per step", e.Message);
        Assert.Contains("--cfg-mode Batched", e.Message);
    }
}
