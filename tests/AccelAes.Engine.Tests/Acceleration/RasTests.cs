using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Ras;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>
/// RAS (<c>--accel ras</c>): the official schedule and token choice on hand-made cases, each knob, and RAS on SD3 / SD3.5
/// and Lumina-Next against the dense run.
/// </summary>
public class RasTests
{
    private readonly CpuBackend _cpu = new();

    // ---- Schedule (microsoft/RAS ras_manager.generate_skip_token_list, evaluated by hand) ----

    [Fact]
    public void The_Lumina_script_schedule_at_4096_tokens_is_the_official_dynamic_list()
    {
        // Official: avg = int(0.5·4096) = 2048; block i = k // 4; middle = ((30 + 4) // 4) // 2 = 4;
        // count = 2048 + 256·(i − 4), a multiple of 64; steps 0–3 and the resets 12, 22 are 0.
        var plan = new RasStepSchedule(RasSettings.Published(Backbone.Lumina), 30, 4096);
        int[] expected = [0, 0, 0, 0, 1280, 1280, 1280, 1280, 1536, 1536, 1536, 1536, 0, 1792, 1792, 1792,
            2048, 2048, 2048, 2048, 2304, 2304, 0, 2304, 2560, 2560, 2560, 2560, 2816, 2816];
        Assert.Equal(expected, Enumerable.Range(0, 30).Select(plan.Dropped));
        Assert.True(plan.FillsCaches(3) && plan.FillsCaches(12) && plan.FillsCaches(22));
        Assert.False(plan.IsRasStep(3) || plan.IsRasStep(12) || plan.IsRasStep(22));
        Assert.True(plan.IsRasStep(4) && plan.IsRasStep(29));
        // high_ratio 1: every dropped token comes from the top of the ranking.
        Assert.Equal(4096 - 2816, plan.Active(29));
    }

    [Fact]
    public void The_SD3_script_schedule_is_static_and_splits_the_dropped_tokens_low_and_high()
    {
        var plan = new RasStepSchedule(RasSettings.Published(Backbone.Sd3), 28, 4096);
        Assert.All(Enumerable.Range(0, 28), s => Assert.Equal(s is >= 4 and not 12 and not 20 ? 2048 : 0, plan.Dropped(s)));
        // int(2048·0.7) = 1433 lowest and int(2048·0.3) = 614 highest dropped: 2049 computed.
        Assert.Equal((1433, 614), RasTokenSelection.Split(2048, 0.3));
        Assert.Equal(2049, plan.Active(5));
        Assert.Equal(4096, plan.Active(12));
    }

    [Fact]
    public void Sample_ratio_one_drops_no_token()
    {
        var plan = new RasStepSchedule(RasSettings.Published(Backbone.Lumina) with { SampleRatio = 1 }, 30, 4096);
        Assert.All(Enumerable.Range(0, 30), s => Assert.Equal(0, plan.Dropped(s)));
        Assert.True(plan.IsRasStep(5)); // the machinery still runs, on every token
    }

    [Theory]
    [InlineData("sample_ratio", "0.75")]
    [InlineData("scheduler_start_step", "6")]
    [InlineData("scheduler_end_step", "20")]
    [InlineData("error_reset_steps", "10")]
    [InlineData("skip_num_step", "512")]
    [InlineData("skip_num_step_length", "0")]
    public void Each_schedule_knob_changes_the_per_step_counts(string knob, string value)
    {
        var published = AccelerationOptions.ForPreset(AccelerationPreset.Ras, Backbone.Lumina);
        var changed = published.With(knob, value).Validated();
        int[] Counts(AccelerationOptions o)
        {
            var plan = new RasStepSchedule(o.Ras, 30, 4096);
            return Enumerable.Range(0, 30).Select(s => plan.IsRasStep(s) ? plan.Active(s) : -1).ToArray();
        }
        Assert.NotEqual(Counts(published), Counts(changed));
    }

    [Fact]
    public void Auto_skip_num_step_scales_with_the_token_count()
    {
        // At 1024 tokens (a quarter of the script's), auto is 64 and the rounding 16 tokens: 512 + 64·(i − 4).
        var plan = new RasStepSchedule(RasSettings.Published(Backbone.Lumina), 30, 1024);
        Assert.Equal(512 + 64 * (1 - 4), plan.Dropped(4));
        Assert.Equal(512 + 64 * (7 - 4), plan.Dropped(29));
    }

    // ---- Token choice on a hand-made velocity ----

    /// <summary>A 2×2 token grid, patch 1, two channels: per token the channel values (a, b), std = |a − b|/√2.</summary>
    private static float[] Velocity(params (float A, float B)[] tokens)
        => [.. tokens.Select(t => t.A), .. tokens.Select(t => t.B)];

    [Fact]
    public void High_ratio_one_drops_the_tokens_whose_update_varies_most_across_channels()
    {
        // std per token: 0, 2/√2, 4/√2, 1/√2 → ascending order 0, 3, 1, 2.
        float[] v = Velocity((1, 1), (0, 2), (0, 4), (1, 2));
        var selection = new RasTokenSelection(RasSettings.Default with { HighRatio = 1, StarvationScale = 0 }, 2, 2, steps: 4);
        Assert.Equal([0, 3], selection.Select(v, 2, 2, 2, -0.25f, dropped: 2));
        var low = new RasTokenSelection(RasSettings.Default with { HighRatio = 0, StarvationScale = 0 }, 2, 2, steps: 4);
        Assert.Equal([1, 2], low.Select(v, 2, 2, 2, -0.25f, dropped: 2));
        var both = new RasTokenSelection(RasSettings.Default with { HighRatio = 0.5, StarvationScale = 0 }, 2, 2, steps: 4);
        Assert.Equal([1, 3], both.Select(v, 2, 2, 2, -0.25f, dropped: 2)); // the lowest (0) and the highest (2) dropped
    }

    [Fact]
    public void The_metric_knob_picks_std_or_l2norm()
    {
        // Token 0 (3, 3): std 0, L2 4.24; token 1 (0, 2): std 1.41, L2 2; others in between.
        float[] v = Velocity((3, 3), (0, 2), (1, 1.5f), (0.5f, 1));
        var std = new RasTokenSelection(RasSettings.Default with { StarvationScale = 0 }, 2, 2, 4);
        var l2 = new RasTokenSelection(RasSettings.Default with { StarvationScale = 0, Metric = RasMetric.L2Norm }, 2, 2, 4);
        Assert.DoesNotContain(1, std.Select(v, 2, 2, 2, -0.1f, 1)); // highest std dropped
        Assert.DoesNotContain(0, l2.Select(v, 2, 2, 2, -0.1f, 1)); // highest L2 dropped
    }

    [Fact]
    public void The_metric_averages_a_tokens_patch_and_scales_with_the_step()
    {
        // One token of a 2×2 patch, one channel pair per pixel: std per pixel |a − b|/√2 · |Δσ|, averaged.
        var selection = new RasTokenSelection(RasSettings.Default, 1, 1, 4);
        float[] v = [0, 0, 0, 0, /* channel 1 */ 2, 0, 0, 2];
        float[] metric = selection.Metric(v, 2, 2, 2, 0.5f);
        Assert.Equal(0.5 * Math.Sqrt(2) / 2, metric[0], 5);
    }

    [Fact]
    public void Starvation_scale_lifts_tokens_by_how_often_they_were_dropped()
    {
        // Token 3's update varies a little less than token 2's; once token 3 was dropped, exp(scale · count) ranks it above.
        float[] v = Velocity((0, 0), (0, 1), (0, 3), (0, 2.9f));
        var weighted = new RasTokenSelection(RasSettings.Default with { HighRatio = 1, StarvationScale = 1 }, 2, 2, steps: 4);
        var unweighted = new RasTokenSelection(RasSettings.Default with { HighRatio = 1, StarvationScale = 0 }, 2, 2, steps: 4);
        float[] first = Velocity((0, 0), (0, 1), (0, 2), (0, 3)); // token 3 dropped at the first choice
        weighted.Select(first, 2, 2, 2, -0.1f, 1);
        unweighted.Select(first, 2, 2, 2, -0.1f, 1);
        Assert.Equal(-4f, weighted.DropCounts[3]); // −(steps + 1) + 1
        Assert.Equal([0, 1, 2], weighted.Select(v, 2, 2, 2, -0.1f, 1)); // 3 dropped again: e·(2.9/√2) > 3/√2
        Assert.Equal([0, 1, 3], unweighted.Select(v, 2, 2, 2, -0.1f, 1));
    }

    // ---- Options ----

    [Fact]
    public void The_presets_are_the_authors_scripts_scaled_to_the_run()
    {
        var sd3 = AccelerationOptions.ForPreset(AccelerationPreset.Ras, Backbone.Sd3);
        Assert.Equal(RasSettings.Published(Backbone.Sd3), sd3.Ras);
        Assert.Equal([12, 20], sd3.Ras.ErrorResetSteps);
        Assert.Equal(0.3, sd3.Ras.HighRatio);
        Assert.Equal(1.0, sd3.Ras.StarvationScale);
        var lumina = AccelerationOptions.ForPreset(AccelerationPreset.Ras, Backbone.Lumina);
        Assert.Equal(4, lumina.Ras.SkipNumStepLength);
        Assert.Null(lumina.Ras.SkipNumStep);
        // 14 steps of SD3's 28: start round(2) = 2, resets 6 and 10, end 14.
        var half = AccelerationOptions.ForPreset(AccelerationPreset.Ras, Backbone.Sd3, 14);
        Assert.Equal(2, half.Ras.StartStep);
        Assert.Equal([6, 10], half.Ras.ErrorResetSteps);
        Assert.Equal(14, half.Ras.EndStep);
        Assert.Empty(half.Validate());
    }

    [Fact]
    public void Bad_settings_name_the_knob()
    {
        var o = AccelerationOptions.ForPreset(AccelerationPreset.Ras, Backbone.Sd3);
        Assert.Contains("sample_ratio: must be in (0, 1]", string.Join(" ", o.With("sample_ratio", "0").Validate()));
        Assert.Contains("high_ratio: must be in [0, 1]", string.Join(" ", o.With("high_ratio", "1.5").Validate()));
        Assert.Contains("scheduler_start_step: must be between 1", string.Join(" ", o.With("scheduler_start_step", "0").Validate()));
        Assert.Contains("error_reset_steps: step 40", string.Join(" ", o.With("error_reset_steps", "3,40").Validate()));
        Assert.StartsWith("metric:", Assert.Throws<AccelAesException>(() => o.With("metric", "mean")).Message);
        Assert.StartsWith("error_reset_steps:", Assert.Throws<AccelAesException>(() => o.With("error_reset_steps", "a,b")).Message);
        Assert.Contains("FLUX", string.Join(" ", AccelerationOptions.ForPreset(AccelerationPreset.Ras, Backbone.Flux).Validate()));
        Assert.Contains("sample_ratio: only --accel ras uses it.",
            string.Join(" ", AccelerationOptions.ForPreset(AccelerationPreset.Fora, Backbone.Sd3).With("sample_ratio", "0.3").Validate()));
    }

    [Fact]
    public void Ras_knob_values_are_written_as_with_reads_them()
    {
        var options = AccelerationOptions.ForPreset(AccelerationPreset.Ras, Backbone.Lumina)
            .With("error_reset_steps", "none").With("metric", "l2norm").With("skip_num_step", "-64");
        var values = options.KnobValues().ToList();
        var again = values.Aggregate(AccelerationOptions.ForPreset(AccelerationPreset.Ras, Backbone.Sd3), (o, kv) => o.With(kv.Key, kv.Value));
        Assert.Equal(options.Ras, again.Ras);
        Assert.Empty(again.Ras.ErrorResetSteps);
    }

    // ---- SD3 / SD3.5 pipeline ----

    private Sd3Pipeline Sd3(bool sd35) => new(new Sd3Transformer2DModel(new WeightReader(new RandomWeightSource(17), _cpu), new Sd3TransformerConfig
    {
        SampleSize = 16, PatchSize = 2, InChannels = 4, OutChannels = 4, NumLayers = 3, AttentionHeadDim = 8, NumAttentionHeads = 2,
        JointAttentionDim = 12, CaptionProjectionDim = 16, PooledProjectionDim = 10, PosEmbedMaxSize = 12,
        QkNorm = sd35 ? "rms_norm" : null, DualAttentionLayers = sd35 ? [1] : [],
    }));

    private Dictionary<string, Tensor> Sd3Inputs() => new()
    {
        ["prompt_embeds"] = _cpu.Upload(TestData.Random(5 * 12, 2), new Shape(1, 5, 12)),
        ["pooled_prompt_embeds"] = _cpu.Upload(TestData.Random(10, 3), new Shape(1, 10)),
        ["negative_prompt_embeds"] = _cpu.Upload(TestData.Random(5 * 12, 4), new Shape(1, 5, 12)),
        ["negative_pooled_prompt_embeds"] = _cpu.Upload(TestData.Random(10, 5), new Shape(1, 10)),
        ["latents"] = _cpu.Upload(TestData.Random(4 * 8 * 8, 1), new Shape(1, 4, 8, 8)),
    };

    private (float[] Latents, AcceleratedRunReport? Report) Sd3Denoise(Sd3Pipeline pipeline, int steps, string? preset, params string[] overrides)
    {
        AcceleratedRunReport? report = null;
        var settings = new DenoiseSettings
        {
            Steps = steps, GuidanceScale = 5f, Scheduler = new FlowMatchEulerSchedulerConfig { Shift = 3.0 }, GuidanceMode = GuidanceMode.Batched,
            Acceleration = preset is null ? null : AccelerationRequest.Parse(preset, overrides).Resolve(Backbone.Sd3, steps, 5),
            OnAccelerationReport = r => report = r,
        };
        return (_cpu.Download(pipeline.Denoise(Sd3Inputs(), settings)), report);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void On_SD3_sample_ratio_one_equals_the_dense_run_bit_for_bit(bool sd35)
    {
        var pipeline = Sd3(sd35);
        var (dense, _) = Sd3Denoise(pipeline, 8, null);
        var (all, report) = Sd3Denoise(pipeline, 8, "ras", "sample_ratio=1");
        // 8 of 28 steps: start 1 (step 0 fills the caches), resets 3 and 6.
        Assert.Equal("CSSCSSCS", report!.Schedule.ToLetters());
        Assert.Equal(Enumerable.Repeat(16, 8), report.ActiveTokens!);
        Assert.Equal(dense, all);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void On_SD3_a_RAS_step_computes_only_its_tokens_and_the_knobs_change_the_image(bool sd35)
    {
        var pipeline = Sd3(sd35);
        var (dense, _) = Sd3Denoise(pipeline, 8, null);
        var (ras, report) = Sd3Denoise(pipeline, 8, "ras");
        // 16 tokens, 8 dropped: int(8·0.7) = 5 low + int(8·0.3) = 2 high → 9 computed.
        Assert.Equal([16, 9, 9, 16, 9, 9, 16, 9], report!.ActiveTokens!);
        Assert.Equal(5, report.SparseForwards);
        Assert.NotEqual(dense, ras);
        Assert.All(ras, v => Assert.True(float.IsFinite(v)));
        foreach (string knob in new[] { "high_ratio=1", "starvation_scale=0", "metric=l2norm", "sample_ratio=0.25" })
            Assert.NotEqual(ras, Sd3Denoise(pipeline, 8, "ras", knob).Latents);
    }

    [Fact]
    public void RAS_takes_one_image_at_a_time()
    {
        var pipeline = Sd3(false);
        var inputs = Sd3Inputs();
        inputs["latents"] = _cpu.Upload(TestData.Random(2 * 4 * 8 * 8, 1), new Shape(2, 4, 8, 8));
        foreach (string name in new[] { "prompt_embeds", "negative_prompt_embeds" })
            inputs[name] = _cpu.Upload(TestData.Random(2 * 5 * 12, 2), new Shape(2, 5, 12));
        foreach (string name in new[] { "pooled_prompt_embeds", "negative_pooled_prompt_embeds" })
            inputs[name] = _cpu.Upload(TestData.Random(2 * 10, 3), new Shape(2, 10));
        var settings = new DenoiseSettings
        {
            Steps = 8, GuidanceScale = 5f, Scheduler = new FlowMatchEulerSchedulerConfig { Shift = 3.0 }, GuidanceMode = GuidanceMode.Batched,
            Acceleration = AccelerationRequest.Parse("ras", []).Resolve(Backbone.Sd3, 8, 5),
        };
        var e = Assert.Throws<AccelAesException>(() => pipeline.Denoise(inputs, settings));
        Assert.Contains("one prompt at a time", e.Message);
    }

    // ---- Lumina-Next ----

    private const int Side = 12;

    private (float[] Latents, AcceleratedRunReport Report) LuminaDenoise(string? preset, params string[] overrides)
    {
        var model = LuminaSparseForwardTests.Model(_cpu, kvHeads: 2, sharedQuery: true);
        int caption = LuminaSparseForwardTests.Caption;
        var conditioning = new LuminaConditioning(
            _cpu.Upload(TestData.Random(caption * 12, 42), new Shape(1, caption, 12)), _cpu.Upload([1, 1, 1, 1, 1, 0], new Shape(1, caption)),
            _cpu.Upload(TestData.Random(caption * 12, 43), new Shape(1, caption, 12)), _cpu.Upload([1, 1, 0, 0, 0, 0], new Shape(1, caption)));
        var denoiser = new LuminaDenoiser(model, conditioning, 4f, 1000, new LuminaPipelineOptions(), GuidanceMode.Batched);
        const int steps = 10;
        SigmaSchedule sigmas = new FlowMatchEulerScheduler(new FlowMatchEulerSchedulerConfig()).SetTimesteps(steps);
        Tensor latents = _cpu.Upload(TestData.Random(4 * Side * Side, 41, -2f, 2f), new Shape(1, 4, Side, Side));
        if (preset is null)
        {
            DenoiseLoop.Run(latents, sigmas, denoiser);
            return (_cpu.Download(latents), null!);
        }
        ICachePolicy policy = CachePolicies.For(AccelerationRequest.Parse(preset, overrides).Resolve(Backbone.Lumina, steps, 4), steps)!;
        DenoiseLoop.Run(latents, sigmas, new CachePolicyPredictor(denoiser, policy));
        return (_cpu.Download(latents), policy.Report(sigmas));
    }

    [Fact]
    public void On_Lumina_sample_ratio_one_equals_the_dense_run_bit_for_bit()
    {
        var (dense, _) = LuminaDenoise(null);
        var (all, report) = LuminaDenoise("ras", "sample_ratio=1");
        // 10 of 30 steps: start round(4/3) = 1, resets 4 and round(7.33) = 7.
        Assert.Equal("CSSSCSSCSS", report.Schedule.ToLetters());
        Assert.Equal(dense, all);
    }

    [Fact]
    public void On_Lumina_RAS_steps_drop_tokens_by_the_dynamic_schedule_and_change_the_image()
    {
        var (dense, _) = LuminaDenoise(null);
        var (ras, report) = LuminaDenoise("ras", "skip_num_step_length=0");
        // 36 tokens, static: int(0.5·36) = 18 dropped, all from the top (high_ratio 1).
        Assert.Equal([36, 18, 18, 18, 36, 18, 18, 36, 18, 18], report.ActiveTokens!);
        Assert.NotEqual(dense, ras);
        Assert.All(ras, v => Assert.True(float.IsFinite(v)));
        var (dynamic, dynamicReport) = LuminaDenoise("ras");
        Assert.NotEqual(report.ActiveTokens!, dynamicReport.ActiveTokens!);
        Assert.NotEqual(ras, dynamic);
    }
}
