using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Fora;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>FORA: its static schedule, its knob, dense equality at interval 1, and what a reusing step computes.</summary>
public class ForaTests
{
    [Theory]
    // The official rule counts steps down (i = steps − 1 − k) and computes at i = steps − 1 and at every i % N == 0.
    // 8 steps, N = 3: i = 7 (k 0), 6 (k 1), 3 (k 4), 0 (k 7).
    [InlineData(8, 3, "FFXXFXXF")]
    // 8 steps, N = 2: i = 7 (k 0), 6, 4, 2, 0 (k 1, 3, 5, 7).
    [InlineData(8, 2, "FFXFXFXF")]
    // 28 steps, N = 3: i = 27 is itself a multiple of 3, so k = 0, 3, …, 27.
    [InlineData(28, 3, "FXXFXXFXXFXXFXXFXXFXXFXXFXXF")]
    [InlineData(5, 1, "FFFFF")]
    [InlineData(4, 10, "FXXF")]
    [InlineData(1, 3, "F")]
    public void The_schedule_is_the_official_countdown_rule(int steps, int interval, string expected)
    {
        var schedule = new ForaSchedule(interval, steps);
        Assert.Equal(expected, new string([.. schedule.Kinds().Select(k => k.Letter())]));
    }

    [Fact]
    public void The_preset_carries_the_authors_interval_at_every_step_count_and_refuses_what_it_would_ignore()
    {
        foreach (int steps in new[] { 4, 8, 28, 50 })
        {
            var o = AccelerationRequest.Parse("fora", []).Resolve(Backbone.Flux, steps, 3.5);
            Assert.Equal((AccelerationOptions.DefaultForaInterval, 0, (int?)null, true), (o.Interval, o.Warmup, o.MaskStep, o.UsesCachePolicy));
            Assert.Null(o.PresetNote);
        }
        Assert.Equal(3, AccelerationOptions.DefaultForaInterval);
        Assert.Equal(5, AccelerationRequest.Parse("fora", ["interval=5"]).Resolve(Backbone.Flux, 28, 3.5).Interval);
        Assert.Contains("warmup: fora",
            Assert.Throws<AccelAesException>(() => AccelerationRequest.Parse("fora", ["warmup=2"]).Resolve(Backbone.Flux, 28, 3.5)).Message);
        Assert.Contains("mask_step: fora has no AesMask",
            Assert.Throws<AccelAesException>(() => AccelerationRequest.Parse("fora", ["mask_step=3"]).Resolve(Backbone.Flux, 28, 3.5)).Message);
        foreach (Backbone b in new[] { Backbone.Sd3, Backbone.Lumina })
            Assert.True(AccelerationRequest.Parse("fora", []).Resolve(b, 28, 5).UsesCachePolicy);
    }

    [Fact]
    public void Interval_one_equals_the_dense_run_bit_for_bit()
    {
        var run = new TinyFluxRun();
        var (dense, _) = run.Denoise(6, null);
        var (fora, report) = run.Denoise(6, "fora", "interval=1");
        Assert.Equal("FFFFFF", report!.Schedule.ToLetters());
        Assert.Equal(dense, fora);
    }

    [Fact]
    public void The_run_executes_and_reports_the_schedule_its_interval_gives()
    {
        var run = new TinyFluxRun();
        var (dense, _) = run.Denoise(8, null);
        var (three, r3) = run.Denoise(8, "fora");
        var (two, r2) = run.Denoise(8, "fora", "interval=2");
        Assert.Equal("FFXXFXXF", r3!.Schedule.ToLetters());
        Assert.Equal([0, 1, 4, 7], r3.StepsRun);
        Assert.Equal(4, r3.Skipped);
        Assert.Equal("FFXFXFXF", r2!.Schedule.ToLetters());
        // The knob acts: a different interval reuses different steps, so the trajectory changes; reuse is not dense.
        Assert.NotEqual(three, two);
        Assert.NotEqual(dense, three);
        // Per block: the image and text attention and MLP outputs of 3 double blocks, the [text, image] output of 2 single blocks.
        int d = 16;
        long expected = 4L * d * (3 * 2 * (TinyFluxRun.Tokens + TinyFluxRun.TextTokens) + 2 * (TinyFluxRun.Tokens + TinyFluxRun.TextTokens));
        Assert.Equal(expected, r3.PeakCacheBytes);
    }

    [Fact]
    public void A_reusing_step_on_the_computed_steps_own_inputs_reproduces_its_output()
    {
        // FORA's reuse adds each block's cached attention and MLP outputs through the step's gates: on the very inputs
        // they were computed from, that is the computed forward again (same gated additions, same order).
        var run = new TinyFluxRun();
        var fora = new ForaPolicy(new ForaSchedule(interval: 10, steps: 4)); // steps 0 and 3 compute, 1 and 2 reuse
        float[] computed = run.Cpu.Download(fora.Velocity(run.Embed(0.7f), 0));
        Assert.Equal(computed, run.Cpu.Download(fora.Velocity(run.Embed(0.7f), 1)));

        // At another timestep the gates follow σ but the attention and MLP outputs stay step 0's: not the dense forward.
        float[] reused = run.Cpu.Download(fora.Velocity(run.Embed(0.4f), 2));
        var laterDense = run.Embed(0.4f);
        float[] dense = run.Cpu.Download(laterDense.Output(laterDense.RunBlocks()));
        Assert.NotEqual(dense, reused);
        Assert.NotEqual(computed, reused);
    }
}
