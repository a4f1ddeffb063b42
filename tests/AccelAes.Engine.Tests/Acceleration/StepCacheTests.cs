using AccelAes.Engine.Acceleration;

namespace AccelAes.Engine.Tests.Acceleration;

public class StepCacheTests
{
    [Fact]
    public void Linear_in_sigma_is_exact_for_velocities_linear_in_sigma()
    {
        // Dyadic values: every operation is exact in float32, so the prediction is bitwise v(σ).
        float alpha = 0.75f, beta = -2.5f;
        float V(float s) => alpha + beta * s;
        var cache = new HostStepCache(ExtrapolationRule.LinearInSigma, 1);
        cache.Store(3, 0.75f, [V(0.75f)]);
        cache.Store(4, 0.5f, [V(0.5f)]);
        foreach (float sigma in new[] { 0.375f, 0.25f, 0.125f, 0f })
            Assert.Equal(V(sigma), cache.Extrapolate(5, sigma)[0]);

        // Random velocities, uneven spacing (several skipped steps apart): exact up to float32 rounding.
        int n = 4096;
        float[] a = TestData.Random(n, 1), b = TestData.Random(n, 2);
        float sa = 0.61f, sb = 0.83f, target = 0.47f;
        var c2 = new HostStepCache(ExtrapolationRule.LinearInSigma, n);
        c2.Store(10, sb, a.Select((x, i) => x + b[i] * sb).ToArray());
        c2.Store(13, sa, a.Select((x, i) => x + b[i] * sa).ToArray());
        float[] predicted = c2.Extrapolate(14, target);
        TestData.AssertClose(a.Select((x, i) => x + b[i] * target).ToArray(), predicted, 2e-6, "linear-in-σ prediction");
    }

    [Fact]
    public void Reference_rule_is_two_v_last_minus_v_prev_whatever_the_spacing()
    {
        float[] vPrev = TestData.Random(257, 3), vLast = TestData.Random(257, 4);
        var cache = new HostStepCache(ExtrapolationRule.ReferenceDoubledSlope, vPrev.Length);
        cache.Store(7, 0.8f, vPrev);
        cache.Store(9, 0.7f, vLast); // two steps apart: the reference still uses slope 1 per step
        float[] p = cache.Extrapolate(10, 0.65f);
        for (int i = 0; i < p.Length; i++) Assert.Equal(vLast[i] + (vLast[i] - vPrev[i]), p[i]);
        Assert.Equal(1f, cache.History.Plan(11, 0.1f).Coefficient);
    }

    [Fact]
    public void Linear_in_sigma_halves_the_reference_slope_across_a_skip()
    {
        // Uniform σ spacing, entries two steps apart, prediction one step ahead: c = 1/2 vs the reference's 1.
        var h = new StepCacheHistory(ExtrapolationRule.LinearInSigma);
        h.Record(7, 0.7f);
        h.Record(9, 0.5f);
        Assert.Equal(0.5f, h.Plan(10, 0.4f).Coefficient, 6);
    }

    [Fact]
    public void History_keeps_the_last_two_computed_steps()
    {
        var cache = new HostStepCache(ExtrapolationRule.LinearInSigma, 1);
        Assert.Throws<InvalidOperationException>(() => cache.Extrapolate(0, 0.5f));
        cache.Store(0, 1f, [10f]);
        Assert.Equal(10f, cache.Extrapolate(1, 0.9f)[0]); // one entry: copy (as the reference)
        Assert.Equal(-1, cache.History.Plan(1, 0.9f).PreviousSlot);
        cache.Store(1, 0.9f, [9f]);
        cache.Store(3, 0.7f, [7f]); // step 2 skipped, not stored
        Assert.Equal(2, cache.History.Count);
        Assert.Equal(3, cache.History.LatestStep);
        Assert.Equal(6f, cache.Extrapolate(4, 0.6f)[0], 5); // through (0.9, 9) and (0.7, 7)
        Assert.Throws<InvalidOperationException>(() => cache.Store(3, 0.6f, [1f]));
        cache.History.Clear();
        Assert.Equal(0, cache.History.Count);
    }

    [Fact]
    public void Equal_sigmas_and_bad_lengths_are_refused()
    {
        var cache = new HostStepCache(ExtrapolationRule.LinearInSigma, 2);
        cache.Store(0, 0.5f, [1f, 2f]);
        cache.Store(1, 0.5f, [1f, 2f]);
        Assert.Throws<InvalidOperationException>(() => cache.Extrapolate(2, 0.4f));
        Assert.Throws<ArgumentException>(() => cache.Store(2, 0.3f, [1f]));
        Assert.Throws<ArgumentException>(() => StepCacheMath.Extrapolate([1f], [1f, 2f], 1f, new float[1]));
    }

    [Fact]
    public void Span_op_is_the_documented_fused_multiply_add()
    {
        float[] a = TestData.Random(1000, 11), b = TestData.Random(1000, 12);
        var dst = new float[a.Length];
        StepCacheMath.Extrapolate(a, b, 0.37f, dst);
        for (int i = 0; i < a.Length; i++) Assert.Equal(MathF.FusedMultiplyAdd(0.37f, a[i] - b[i], a[i]), dst[i]);
    }

    [Fact]
    public void Following_a_schedule_the_cache_sees_only_computed_steps()
    {
        // FLUX AccelAes: skip 5, 7, …; step 7 is predicted from steps 6 and 4 (the two last computed).
        var o = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Flux);
        float[] sigmas = Enumerable.Range(0, 29).Select(i => 1f - i / 28f).ToArray();
        var schedule = StepSchedule.Create(o, 28, sigmas);
        var cache = new HostStepCache(o.Extrapolation, 1);
        float V(float s) => 3f * s - 1f;
        foreach (var e in schedule.Steps)
        {
            if (e.Kind == StepKind.Skip)
            {
                Assert.Equal(V(e.Sigma), cache.Extrapolate(e.Index, e.Sigma)[0], 5);
                Assert.True(cache.History.LatestStep == e.Index - 1);
            }
            else
            {
                cache.Store(e.Index, e.Sigma, [V(e.Sigma)]);
            }
        }
    }

    [Fact]
    public void Index_rule_is_linear_in_the_step_index_whatever_the_sigmas()
    {
        // The paper's Eq. 12–13: stride 2, one step ahead → c = 1/2 however σ is spaced (here a shifted, uneven schedule).
        var h = new StepCacheHistory(ExtrapolationRule.LinearInStepIndex);
        h.Record(7, 0.81f);
        h.Record(9, 0.62f);
        Assert.Equal(0.5f, h.Plan(10, 0.57f).Coefficient);
        Assert.Equal(1.5f, h.Plan(12, 0.3f).Coefficient); // three steps ahead of two steps apart
        Assert.Throws<InvalidOperationException>(() => h.Plan(9, 0.62f));
        var sigma = new StepCacheHistory(ExtrapolationRule.LinearInSigma);
        sigma.Record(7, 0.81f);
        sigma.Record(9, 0.62f);
        Assert.NotEqual(0.5f, sigma.Plan(10, 0.57f).Coefficient); // the σ form differs on this schedule

        float[] vPrev = TestData.Random(64, 5), vLast = TestData.Random(64, 6);
        var cache = new HostStepCache(ExtrapolationRule.LinearInStepIndex, vPrev.Length);
        cache.Store(7, 0.81f, vPrev);
        cache.Store(9, 0.62f, vLast);
        float[] p = cache.Extrapolate(10, 0.57f);
        for (int i = 0; i < p.Length; i++) Assert.Equal(MathF.FusedMultiplyAdd(0.5f, vLast[i] - vPrev[i], vLast[i]), p[i]);
    }
}
