using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.TeaCache;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>TeaCache's decision rule and its knob, without a model.</summary>
public class TeaCacheRuleTests
{
    [Fact]
    public void The_FLUX_polynomial_is_the_official_one_evaluated_by_Horner()
    {
        // README A.4 of the conformance case: poly(0.302454) ≈ 0.539549 (official numpy run, 6 digits).
        Assert.Equal(0.539549, TeaCacheRescale.Flux.Evaluate(0.30245357751846313), 6);
        Assert.Equal(0.264230861, TeaCacheRescale.Flux.Evaluate(0), 12);
    }

    [Fact]
    public void First_and_last_steps_compute_the_accumulator_resets_only_on_compute_and_the_comparison_is_strict()
    {
        // Every middle step sees rel_l1 0.3, so the accumulator grows by poly(0.3) ≈ 0.53 per reused step.
        var rule = new TeaCacheRule(1.0, 5, TeaCacheRescale.Flux);
        double poly = TeaCacheRescale.Flux.Evaluate(0.3);
        Assert.True(rule.Decide(0, () => throw new InvalidOperationException("forced steps evaluate no distance")).Computed);
        var d1 = rule.Decide(1, () => 0.3);
        Assert.False(d1.Computed);
        Assert.Equal(poly, d1.AccumulatedAfter);
        var d2 = rule.Decide(2, () => 0.3);
        Assert.Equal(poly + poly, d2.AccumulatedCompared);
        Assert.True(d2.Computed); // 2 · poly(0.3) ≈ 1.06 ≥ 1
        Assert.Equal(0, d2.AccumulatedAfter);
        Assert.False(rule.Decide(3, () => 0.3).Computed);
        Assert.True(rule.Decide(4, () => throw new InvalidOperationException("forced")).Computed);

        // Equal to the threshold computes (strict <).
        var equal = new TeaCacheRule(poly, 3, TeaCacheRescale.Flux);
        equal.Decide(0, () => 0);
        Assert.True(equal.Decide(1, () => 0.3).Computed);
    }

    [Fact]
    public void The_knob_parses_validates_and_belongs_to_teacache()
    {
        var flux = AccelerationRequest.Parse("teacache", ["rel_l1_thresh=0.25"]).Resolve(Backbone.Flux, 28, 3.5);
        Assert.True(flux.UsesTeaCache);
        Assert.Equal(0.25, flux.RelL1Threshold);
        Assert.Equal(0.6, AccelerationRequest.Parse("teacache", []).Resolve(Backbone.Flux, 28, 3.5).EffectiveRelL1Threshold);
        Assert.Contains("rel_l1_thresh: must be",
            Assert.Throws<AccelAesException>(() => AccelerationRequest.Parse("teacache", ["rel_l1_thresh=-1"]).Resolve(Backbone.Flux, 28, 3.5)).Message);
        Assert.Contains("rel_l1_thresh: only --accel teacache uses it",
            Assert.Throws<AccelAesException>(() => AccelerationRequest.Parse("stepcache", ["rel_l1_thresh=0.3"]).Resolve(Backbone.Flux, 28, 3.5)).Message);
        Assert.Contains("interval: teacache decides",
            Assert.Throws<AccelAesException>(() => AccelerationRequest.Parse("teacache", ["interval=2"]).Resolve(Backbone.Flux, 28, 3.5)).Message);
        foreach (Backbone b in new[] { Backbone.Sd3, Backbone.Lumina })
            Assert.True(AccelerationRequest.Parse("teacache", []).Resolve(b, 28, 4).UsesTeaCache);
    }
}
