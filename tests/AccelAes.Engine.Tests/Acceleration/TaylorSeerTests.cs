using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.TaylorSeer;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>TaylorSeer: its schedule, its forecast, its knobs, and dense equality at interval 1.</summary>
public class TaylorSeerTests
{
    [Theory]
    // first_enhance 3, fresh_threshold 6 (the official FLUX 'Taylor' mode): 0, 1, 2, then 8, 14, 20, 26.
    [InlineData(28, 6, 3, "FFFXXXXXFXXXXXFXXXXXFXXXXXFX")]
    [InlineData(8, 2, 1, "FXFXFXFX")]
    [InlineData(6, 1, 3, "FFFFFF")]
    [InlineData(2, 6, 2, "FF")]
    public void The_schedule_is_the_official_counter_rule(int steps, int interval, int firstEnhance, string expected)
        => Assert.Equal(expected, new string([.. new TaylorSeerSchedule(interval, firstEnhance, steps).Kinds().Select(k => k.Letter())]));

    [Fact]
    public void The_forecast_is_the_first_order_Taylor_expansion_from_the_last_two_computed_steps()
    {
        var cpu = new CpuBackend();
        Tensor T(float v) => cpu.Upload([v, 2 * v], new Shape(1, 2));
        // Derivatives from step 2 on (first_enhance 3: step > 1). Features 1, 3, 4 at steps 0, 1, 2; then 10 at step 5.
        var cache = new BlockOutputCache(maxOrder: 1, derivativesFromStep: 1);
        float[] features = [1, 3, 4];
        for (int s = 0; s < 3; s++)
        {
            cache.BeginStep(s, compute: true);
            cache.Store(0, "f", T(features[s]));
        }
        cache.BeginStep(3, compute: false);
        Assert.Equal([5f, 10f], cpu.Download(cache.Get(0, "f")));   // 4 + (4 − 3)·1
        cache.BeginStep(4, compute: false);
        Assert.Equal([6f, 12f], cpu.Download(cache.Get(0, "f")));   // 4 + (4 − 3)·2
        cache.BeginStep(5, compute: true);
        cache.Store(0, "f", T(10));                                 // slope (10 − 4) / 3 = 2
        cache.BeginStep(6, compute: false);
        Assert.Equal([12f, 24f], cpu.Download(cache.Get(0, "f")));

        // Step 1 is not past step 1: no derivative, the forecast after it is the feature itself (order 0 behaviour).
        var early = new BlockOutputCache(maxOrder: 1, derivativesFromStep: 1);
        early.BeginStep(0, true); early.Store(0, "f", T(1));
        early.BeginStep(1, true); early.Store(0, "f", T(3));
        early.BeginStep(2, false);
        Assert.Equal([3f, 6f], cpu.Download(early.Get(0, "f")));
    }

    [Fact]
    public void The_preset_carries_the_official_defaults_and_the_knobs_validate()
    {
        var o = AccelerationRequest.Parse("taylorseer", []).Resolve(Backbone.Flux, 28, 3.5);
        Assert.Equal((6, 3, 1, true), (o.Interval, o.Warmup, o.TaylorOrder, o.UsesCachePolicy));
        Assert.Equal(2, AccelerationRequest.Parse("taylorseer", []).Resolve(Backbone.Flux, 2, 3.5).Warmup);
        Assert.Equal(2, AccelerationRequest.Parse("taylorseer", ["max_order=2"]).Resolve(Backbone.Sd3, 28, 7).TaylorOrder);
        Assert.Contains("max_order: must be between 0 and 4",
            Assert.Throws<AccelAesException>(() => AccelerationRequest.Parse("taylorseer", ["max_order=9"]).Resolve(Backbone.Flux, 28, 3.5)).Message);
        Assert.Contains("max_order: only --accel taylorseer uses it",
            Assert.Throws<AccelAesException>(() => AccelerationRequest.Parse("fora", ["max_order=2"]).Resolve(Backbone.Flux, 28, 3.5)).Message);
        Assert.Contains("warmup: taylorseer's first_enhance",
            Assert.Throws<AccelAesException>(() => AccelerationRequest.Parse("taylorseer", ["warmup=0"]).Resolve(Backbone.Flux, 28, 3.5)).Message);
        Assert.True(AccelerationRequest.Parse("taylorseer", []).Resolve(Backbone.Lumina, 30, 4).UsesCachePolicy);
    }

    [Fact]
    public void Interval_one_equals_the_dense_run_and_the_knobs_change_the_run()
    {
        var run = new TinyFluxRun();
        var (dense, _) = run.Denoise(8, null);
        var (every, everyReport) = run.Denoise(8, "taylorseer", "interval=1");
        Assert.Equal("FFFFFFFF", everyReport!.Schedule.ToLetters());
        Assert.Equal(dense, every);

        var (first, r1) = run.Denoise(8, "taylorseer", "interval=3");
        var (zero, r0) = run.Denoise(8, "taylorseer", "interval=3", "max_order=0");
        var (wider, r4) = run.Denoise(8, "taylorseer", "interval=4");
        Assert.Equal("FFFXXFXX", r1!.Schedule.ToLetters());
        Assert.Equal(r1.Schedule.ToLetters(), r0!.Schedule.ToLetters());
        Assert.Equal("FFFXXXFX", r4!.Schedule.ToLetters());
        Assert.NotEqual(dense, first);
        Assert.NotEqual(first, zero);   // max_order acts: a forecast is not a reuse
        Assert.NotEqual(first, wider);
    }
}
