using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.DeltaDit;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>Δ-DiT: its stage-adaptive schedule, its knobs, dense equality at interval 1 and N_c 0, and what Δ-Cache adds.</summary>
public class DeltaDitTests
{
    private static string Letters(DeltaDitSchedule schedule, int blocks) => new([.. schedule.Kinds(blocks).Select(k => k.Letter())]);

    [Fact]
    public void The_schedule_caches_the_rear_blocks_before_the_boundary_and_the_front_blocks_from_it_on()
    {
        // 6 steps, N = 2, N_c = 2 of 5 blocks, b = 3: steps 0, 2, 4 run every block; step 1 (outline stage) stands in for
        // the rear blocks 3 and 4; steps 3 and 5 (detail stage) for the front blocks 0 and 1.
        var schedule = new DeltaDitSchedule(interval: 2, cachedBlocks: 2, boundaryStep: 3, steps: 6);
        Assert.Equal("FXFXFX", Letters(schedule, 5));
        Assert.Equal([(0, 0), (3, 5), (0, 0), (0, 2), (0, 0), (0, 2)], Enumerable.Range(0, 6).Select(s => schedule.CachedRange(s, 5)));
        // N = 3 computes steps 0, 3, 6.
        Assert.Equal("FXXFXXF", Letters(new DeltaDitSchedule(3, 2, 3, 7), 5));
        // N_c = 0 caches nothing: every step runs every block.
        Assert.Equal("FFFFFF", Letters(new DeltaDitSchedule(2, 0, 3, 6), 5));
        // The defaults: b = half the steps, N_c = three quarters of the blocks (FLUX.1 57 → 42, SD3 medium 24 → 18).
        var defaults = new DeltaDitSchedule(2, null, null, 28);
        Assert.Equal(14, defaults.BoundaryStep);
        Assert.Equal((42, 18, 1), (defaults.CachedBlocks(57), defaults.CachedBlocks(24), defaults.CachedBlocks(2)));
        Assert.Equal((57 - 42, 57), defaults.CachedRange(13, 57));
        Assert.Equal((0, 42), defaults.CachedRange(15, 57));
        Assert.Contains("cached_blocks: 6 is more than the model's 5 transformer blocks",
            Assert.Throws<AccelAesException>(() => new DeltaDitSchedule(2, 6, null, 8).CachedRange(1, 5)).Message);
    }

    [Fact]
    public void The_preset_carries_the_stated_defaults_and_the_knobs_validate()
    {
        foreach (Backbone b in new[] { Backbone.Flux, Backbone.Sd3, Backbone.Lumina })
        {
            var o = AccelerationRequest.Parse("delta-dit", []).Resolve(b, 28, 5);
            Assert.Equal((AccelerationOptions.DefaultDeltaDitInterval, 0, (int?)null, (int?)null, (int?)null, true),
                (o.Interval, o.Warmup, o.MaskStep, o.DeltaDitCachedBlocks, o.DeltaDitBoundaryStep, o.UsesCachePolicy));
        }
        var set = AccelerationRequest.Parse("delta_dit", ["cached_blocks=7", "boundary_step=10", "interval=3"]).Resolve(Backbone.Sd3, 28, 7);
        Assert.Equal((3, (int?)7, (int?)10), (set.Interval, set.DeltaDitCachedBlocks, set.DeltaDitBoundaryStep));
        // Run records write every knob; the auto values read back as auto.
        var knobs = set.KnobValues().ToDictionary(k => k.Key, k => k.Value);
        Assert.Equal(("7", "10"), (knobs["cached_blocks"], knobs["boundary_step"]));
        var auto = AccelerationRequest.Parse("delta-dit", []).Resolve(Backbone.Flux, 28, 3.5).KnobValues().ToDictionary(k => k.Key, k => k.Value);
        Assert.Equal(("auto", "auto"), (auto["cached_blocks"], auto["boundary_step"]));

        string Error(string preset, params string[] overrides)
            => Assert.Throws<AccelAesException>(() => AccelerationRequest.Parse(preset, overrides).Resolve(Backbone.Flux, 28, 3.5)).Message;
        Assert.Contains("boundary_step: must be a step in [0, 28]", Error("delta-dit", "boundary_step=29"));
        Assert.Contains("cached_blocks: must be between 0", Error("delta-dit", "cached_blocks=-1"));
        Assert.Contains("cached_blocks: only --accel delta-dit uses it", Error("fora", "cached_blocks=3"));
        Assert.Contains("boundary_step: only --accel delta-dit uses it", Error("none", "boundary_step=3"));
        Assert.Contains("warmup: delta-dit's schedule is its interval alone", Error("delta-dit", "warmup=2"));
        Assert.Contains("mask_step: delta-dit has no AesMask", Error("delta-dit", "mask_step=3"));
    }

    [Fact]
    public void Interval_one_and_no_cached_blocks_each_equal_the_dense_run_bit_for_bit()
    {
        var run = new TinyFluxRun();
        var (dense, _) = run.Denoise(6, null);
        var (everyStep, r1) = run.Denoise(6, "delta-dit", "interval=1");
        var (noBlocks, r0) = run.Denoise(6, "delta-dit", "cached_blocks=0");
        Assert.Equal("FFFFFF", r1!.Schedule.ToLetters());
        Assert.Equal("FFFFFF", r0!.Schedule.ToLetters());
        Assert.Equal(dense, everyStep);
        Assert.Equal(dense, noBlocks);
    }

    [Fact]
    public void Each_knob_changes_the_run_and_the_report_is_the_executed_schedule()
    {
        var run = new TinyFluxRun(); // 3 double + 2 single blocks: default N_c 3
        var (dense, _) = run.Denoise(8, null);
        var (standard, report) = run.Denoise(8, "delta-dit");
        Assert.Equal("FXFXFXFX", report!.Schedule.ToLetters());
        Assert.Equal([0, 2, 4, 6], report.StepsRun);
        Assert.Equal(4, report.Skipped);
        // Two deviations over [text, image], D = 16.
        Assert.Equal(2 * 4L * 16 * (TinyFluxRun.Tokens + TinyFluxRun.TextTokens), report.PeakCacheBytes);
        Assert.NotEqual(dense, standard);

        var (three, r3) = run.Denoise(8, "delta-dit", "interval=3");
        Assert.Equal("FXXFXXFX", r3!.Schedule.ToLetters());
        Assert.NotEqual(standard, three);

        var (oneBlock, _) = run.Denoise(8, "delta-dit", "cached_blocks=1");
        Assert.NotEqual(standard, oneBlock);

        // Boundary 0: every reusing step caches the front blocks; 8: the rear ones. Same schedule, different blocks.
        var (front, rf) = run.Denoise(8, "delta-dit", "boundary_step=0");
        var (rear, rr) = run.Denoise(8, "delta-dit", "boundary_step=8");
        Assert.Equal(rf!.Schedule.ToLetters(), rr!.Schedule.ToLetters());
        Assert.NotEqual(front, rear);
        Assert.NotEqual(standard, front);
        Assert.NotEqual(standard, rear);
    }

    [Fact]
    public void A_reusing_step_adds_the_computed_steps_deviation_to_its_own_input_of_the_range()
    {
        var run = new TinyFluxRun();
        var cpu = run.Cpu;
        // 5 blocks, N_c 3, b 2: step 1 caches the rear blocks 2–4, step 3 the front blocks 0–2; steps 0 and 2 compute.
        var policy = new DeltaDitPolicy(new DeltaDitSchedule(interval: 2, cachedBlocks: 3, boundaryStep: 2, steps: 4));
        float[] computed = cpu.Download(policy.Velocity(run.Embed(0.7f), 0));

        // The computed step's streams where the cached ranges start and end, taken from a dense forward at the same σ.
        ISplitForward probe = run.Embed(0.7f);
        Tensor s0 = probe.BlockStates();
        probe.RunBlockRange(0, 2);
        Tensor s2 = probe.BlockStates();
        probe.RunBlockRange(2, 3);
        Tensor s3 = probe.BlockStates();
        probe.RunBlockRange(3, 5);
        Tensor s5 = probe.BlockStates();
        Assert.Equal(computed, cpu.Download(probe.Output(probe.ImageAfterBlockRanges())));
        Tensor Minus(Tensor a, Tensor b) => cpu.Add(a, cpu.Scale(b, -1f));
        int l = TinyFluxRun.TextTokens, n = TinyFluxRun.Tokens;
        Tensor ImageOf(Tensor states) => cpu.Slice(states, 1, l, n);

        // Step 1 at another σ: blocks 0–1 run on this step's streams, then the rear deviation s5 − s2 is added.
        ISplitForward later = run.Embed(0.4f);
        later.RunBlockRange(0, 2);
        Tensor rearInput = later.BlockStates();
        float[] expectedRear = cpu.Download(later.Output(cpu.Add(ImageOf(rearInput), ImageOf(Minus(s5, s2)))));
        float[] reusedRear = cpu.Download(policy.Velocity(run.Embed(0.4f), 1));
        AssertClose(expectedRear, reusedRear);
        // Not the broken output cache of the reference baseline: the computed step's image after the blocks is not what is used.
        Assert.NotEqual(cpu.Download(later.Output(ImageOf(s5))), reusedRear);

        // Step 2 computes again (at 0.7: the same deviations); step 3 adds the front deviation s3 − s0 to this step's embedding, then runs 3–4.
        policy.Velocity(run.Embed(0.7f), 2);
        ISplitForward detail = run.Embed(0.4f);
        detail.SkipBlockRange(0, 3, Minus(s3, s0));
        detail.RunBlockRange(3, 5);
        float[] expectedFront = cpu.Download(detail.Output(detail.ImageAfterBlockRanges()));
        AssertClose(expectedFront, cpu.Download(policy.Velocity(run.Embed(0.4f), 3)));
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5f * (1 + Math.Abs(expected[i])), $"element {i}: {expected[i]} vs {actual[i]}");
    }

    private readonly CpuBackend _cpu = new();

    private Sd3Pipeline Sd3(bool sd35) => new(new Sd3Transformer2DModel(new WeightReader(new RandomWeightSource(17), _cpu), new Sd3TransformerConfig
    {
        SampleSize = 16, PatchSize = 2, InChannels = 4, OutChannels = 4, NumLayers = 3, AttentionHeadDim = 8, NumAttentionHeads = 2,
        JointAttentionDim = 12, CaptionProjectionDim = 16, PooledProjectionDim = 10, PosEmbedMaxSize = 12,
        QkNorm = sd35 ? "rms_norm" : null, DualAttentionLayers = sd35 ? [1] : [],
    }));

    private (float[] Latents, AcceleratedRunReport? Report) Denoise(Sd3Pipeline pipeline, int steps, string? preset, params string[] overrides)
    {
        AcceleratedRunReport? report = null;
        var inputs = new Dictionary<string, Tensor>
        {
            ["prompt_embeds"] = _cpu.Upload(TestData.Random(5 * 12, 2), new Shape(1, 5, 12)),
            ["pooled_prompt_embeds"] = _cpu.Upload(TestData.Random(10, 3), new Shape(1, 10)),
            ["negative_prompt_embeds"] = _cpu.Upload(TestData.Random(5 * 12, 4), new Shape(1, 5, 12)),
            ["negative_pooled_prompt_embeds"] = _cpu.Upload(TestData.Random(10, 5), new Shape(1, 10)),
            ["latents"] = _cpu.Upload(TestData.Random(4 * 8 * 8, 1), new Shape(1, 4, 8, 8)),
        };
        var settings = new DenoiseSettings
        {
            Steps = steps, GuidanceScale = 5f, Scheduler = new FlowMatchEulerSchedulerConfig { Shift = 3.0 }, GuidanceMode = GuidanceMode.Batched,
            Acceleration = preset is null ? null : AccelerationRequest.Parse(preset, overrides).Resolve(Backbone.Sd3, steps, 5),
            OnAccelerationReport = r => report = r,
        };
        return (_cpu.Download(pipeline.Denoise(inputs, settings)), report);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void On_SD3_the_text_stream_crosses_the_cached_ranges_and_the_neutral_knobs_are_dense(bool sd35)
    {
        var pipeline = Sd3(sd35); // 3 joint blocks, the last context_pre_only: default N_c 2
        var (dense, _) = Denoise(pipeline, 6, null);
        Assert.Equal(dense, Denoise(pipeline, 6, "delta-dit", "interval=1").Latents);
        Assert.Equal(dense, Denoise(pipeline, 6, "delta-dit", "cached_blocks=0").Latents);
        // Front blocks 0–1 (their text deviation feeds the last block) and rear blocks 1–2 (through context_pre_only).
        var (front, rf) = Denoise(pipeline, 6, "delta-dit", "boundary_step=0");
        var (rear, _) = Denoise(pipeline, 6, "delta-dit", "boundary_step=6");
        Assert.Equal("FXFXFX", rf!.Schedule.ToLetters());
        Assert.NotEqual(dense, front);
        Assert.NotEqual(front, rear);
        Assert.All(front.Concat(rear), v => Assert.True(float.IsFinite(v)));
        // Every block cached: the reusing steps run no block at all.
        var (all, ra) = Denoise(pipeline, 6, "delta-dit", "cached_blocks=3");
        Assert.Equal("FXFXFX", ra!.Schedule.ToLetters());
        Assert.NotEqual(rear, all);
    }
}
