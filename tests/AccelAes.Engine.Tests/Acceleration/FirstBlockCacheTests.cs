using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.FirstBlockCache;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>FBCache: its decision rule, its knob, dense equality at threshold 0, and what a reusing step computes.</summary>
public class FirstBlockCacheTests
{
    private static double Never() => throw new InvalidOperationException("no comparison is made at this step");

    [Fact]
    public void The_first_step_computes_reuse_is_strictly_below_the_threshold_and_only_a_computed_step_moves_the_reference()
    {
        var rule = new FirstBlockCacheRule(0.1);
        Assert.True(rule.Decide(0, Never).Computed);          // nothing to compare with yet
        Assert.False(rule.Decide(1, () => 0.05).Computed);    // 0.05 < 0.1: reuse
        Assert.True(rule.Decide(2, () => 0.1).Computed);      // equal: compute (strict <)
        Assert.False(rule.Decide(3, () => 0.0999).Computed);
        Assert.Equal([null, 0.05, 0.1, 0.0999], rule.Decisions.Select(d => d.RelativeDifference));

        // Threshold 0 never compares and never reuses; a warmup step computes without comparing.
        var zero = new FirstBlockCacheRule(0);
        for (int i = 0; i < 4; i++) Assert.True(zero.Decide(i, Never).Computed);
        var warm = new FirstBlockCacheRule(0.5, warmup: 2);
        Assert.True(warm.Decide(0, Never).Computed);
        Assert.True(warm.Decide(1, Never).Computed);
        Assert.False(warm.Decide(2, () => 0.2).Computed);
        Assert.Throws<InvalidOperationException>(() => warm.Decide(5, () => 0));
    }

    [Fact]
    public void The_knob_parses_validates_and_belongs_to_fbcache_on_FLUX()
    {
        var o = AccelerationRequest.Parse("fbcache", ["residual_diff_threshold=0.12"]).Resolve(Backbone.Flux, 28, 3.5);
        Assert.Equal(0.12, o.ResidualDiffThreshold);
        Assert.True(o.UsesCachePolicy);
        Assert.Equal(0.08, AccelerationRequest.Parse("fbcache", []).Resolve(Backbone.Flux, 28, 3.5).ResidualDiffThreshold);
        Assert.Contains("residual_diff_threshold: must be",
            Assert.Throws<AccelAesException>(() => AccelerationRequest.Parse("fbcache", ["residual_diff_threshold=-1"]).Resolve(Backbone.Flux, 28, 3.5)).Message);
        Assert.Contains("residual_diff_threshold: only --accel fbcache uses it",
            Assert.Throws<AccelAesException>(() => AccelerationRequest.Parse("teacache", ["residual_diff_threshold=0.1"]).Resolve(Backbone.Flux, 28, 3.5)).Message);
        Assert.Contains("interval: fbcache decides",
            Assert.Throws<AccelAesException>(() => AccelerationRequest.Parse("fbcache", ["interval=2"]).Resolve(Backbone.Flux, 28, 3.5)).Message);
        foreach (Backbone b in new[] { Backbone.Sd3, Backbone.Lumina })
            Assert.True(AccelerationRequest.Parse("fbcache", []).Resolve(b, 28, 5).UsesCachePolicy);
    }

    [Fact]
    public void Threshold_zero_equals_the_dense_run_bit_for_bit()
    {
        var run = new TinyFluxRun();
        var (dense, _) = run.Denoise(6, null);
        var (fb, report) = run.Denoise(6, "fbcache", "residual_diff_threshold=0");
        Assert.Equal("FFFFFF", report!.Schedule.ToLetters());
        Assert.Equal(dense, fb);
    }

    [Fact]
    public void The_threshold_decides_the_executed_schedule()
    {
        var run = new TinyFluxRun();
        var (dense, _) = run.Denoise(8, null);
        var (lazy, lazyReport) = run.Denoise(8, "fbcache", "residual_diff_threshold=1000");
        Assert.Equal("FXXXXXXX", lazyReport!.Schedule.ToLetters());
        Assert.Equal([0], lazyReport.StepsRun);
        Assert.Equal(7, lazyReport.Skipped);
        Assert.NotEqual(dense, lazy);
        // warmup (the official warmup_steps) reaches the run: its steps compute whatever the threshold.
        var (_, warmReport) = run.Denoise(8, "fbcache", "residual_diff_threshold=1000", "warmup=3");
        Assert.Equal("FFFXXXXX", warmReport!.Schedule.ToLetters());

        // In a run: the same inputs again give block 0 the same residual (difference 0: reuse), another σ a different
        // one (compute), and that computed step becomes the reference (its inputs again: difference 0, reuse).
        // The random weights differ per process (RandomWeightSource seeds through HashCode), so no distance is hard-coded.
        var cache = new FirstBlockCachePolicy(1e-6);
        float[] sigmas = [0.9f, 0.9f, 0.3f, 0.3f];
        for (int i = 0; i < sigmas.Length; i++) cache.Velocity(run.Embed(sigmas[i]), i);
        Assert.Equal([true, false, true, false], cache.Rule.Decisions.Select(d => d.Computed));
        Assert.Equal([0.0, 0.0], cache.Rule.Decisions.Where(d => !d.Computed).Select(d => d.RelativeDifference!.Value));
        Assert.True(cache.Rule.Decisions[2].RelativeDifference > 1e-6);
    }

    [Fact]
    public void A_reusing_step_adds_the_remaining_blocks_residual_to_block_zeros_output()
    {
        // On the computed step's own inputs block 0's residual is unchanged (difference 0), so the step reuses, and
        // block 0's output plus the remaining blocks' residual is the computed step's final hidden state again.
        var run = new TinyFluxRun();
        var cache = new FirstBlockCachePolicy(0.01);
        float[] computed = run.Cpu.Download(cache.Velocity(run.Embed(0.7f), 0));
        float[] reused = run.Cpu.Download(cache.Velocity(run.Embed(0.7f), 1));
        Assert.False(cache.Rule.Decisions[1].Computed);
        Assert.Equal(0, cache.Rule.Decisions[1].RelativeDifference);
        TestData.AssertClose(computed, reused, 1e-5, "reused velocity vs computed on the same inputs");
    }
}
