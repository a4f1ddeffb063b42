using System.Text.Json;
using AccelAes.Engine.Acceleration;

namespace AccelAes.Engine.Tests.Acceleration;

public class StepScheduleTests
{
    private static float[] Sigmas(int steps)
    {
        var s = new float[steps + 1];
        for (int i = 0; i < steps; i++) s[i] = (float)(1 - (1 - 0.001) * i / Math.Max(1, steps - 1));
        return s;
    }

    private static StepSchedule Create(AccelerationOptions o, int? steps = null)
    {
        int t = steps ?? o.Steps;
        return StepSchedule.Create(o, t, Sigmas(t));
    }

    private static int[] Range(int from, int toInclusive, int step = 1) =>
        Enumerable.Range(0, (toInclusive - from) / step + 1).Select(i => from + i * step).ToArray();

    /// <summary>accelaes-reference-code.md §4.2: the reference code's step lists, reproduced under ScheduleStyle.Reference.</summary>
    [Theory]
    [InlineData("lumina_accelaes_T30", Backbone.Lumina, AccelerationPreset.AccelAes, 30, 8, 28, 19)]
    [InlineData("lumina_fskip_only_warmup2", Backbone.Lumina, AccelerationPreset.StepCache, 30, 2, 28, 16)]
    [InlineData("flux_accelaes_warmup5", Backbone.Flux, AccelerationPreset.AccelAes, 28, 5, 27, 16)]
    [InlineData("flux_warmup2", Backbone.Flux, AccelerationPreset.StepCache, 28, 2, 26, 15)]
    [InlineData("sd3_accelaes", Backbone.Sd3, AccelerationPreset.AccelAes, 28, 8, 26, 18)]
    [InlineData("lumina_accelaes_T28", Backbone.Lumina, AccelerationPreset.AccelAes, 28, 8, 26, 18)]
    public void Reference_style_reproduces_the_reference_step_lists(string row, Backbone backbone, AccelerationPreset preset, int steps,
        int firstSkip, int lastSkip, int forwards)
    {
        var o = AccelerationOptions.ForPreset(preset, backbone) with { Schedule = ScheduleStyle.Reference };
        var schedule = Create(o, steps);
        int[] skipped = Range(firstSkip, lastSkip, 2);
        Assert.True(skipped.SequenceEqual(schedule.IndicesOf(StepKind.Skip)), $"{row}: skipped {string.Join(",", schedule.IndicesOf(StepKind.Skip))}");
        Assert.Equal(forwards, schedule.ComputedCount);
        Assert.Equal(Enumerable.Range(0, steps).Except(skipped), schedule.ComputedIndices);
        Assert.Equal((double)skipped.Length / steps, schedule.TheoreticalSkipRatio);
    }

    [Fact]
    public void Reference_style_lumina_kinds_follow_behaviour_C()
    {
        var o = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina) with { Schedule = ScheduleStyle.Reference };
        var s = Create(o);
        Assert.Equal(Range(0, 4), s.IndicesOf(StepKind.Full));
        Assert.Equal([5], s.IndicesOf(StepKind.FullCaptureMask));
        Assert.Equal([6], s.IndicesOf(StepKind.FullFillCache));
        Assert.Equal(new[] { 7 }.Concat(Range(9, 29, 2)), s.IndicesOf(StepKind.Sparse));
        // Without SkipSparse (the committed code, behaviour (A)) every forward is dense.
        var dense = Create(o with { SkipSparse = false });
        Assert.Equal(0, dense.SparseCount);
        Assert.Equal(s.IndicesOf(StepKind.Skip), dense.IndicesOf(StepKind.Skip));
        // Behaviour (B): refresh k, dense iff s < 2 or s % k == 0 with s = i − 6.
        var refresh = Create(o with { Refresh = 3 });
        Assert.Equal(new[] { 6, 7 }.Concat(new[] { 9, 15, 21, 27 }), refresh.IndicesOf(StepKind.FullFillCache));
    }

    [Fact]
    public void Engine_lumina_accelaes_schedule()
    {
        var s = Create(AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina));
        Assert.Equal(Range(0, 4), s.IndicesOf(StepKind.Full));
        Assert.Equal([5], s.IndicesOf(StepKind.FullCaptureMask));
        Assert.Equal([6], s.IndicesOf(StepKind.FullFillCache));
        Assert.Equal(Range(7, 29, 2), s.IndicesOf(StepKind.Skip));
        Assert.Equal(Range(8, 28, 2), s.IndicesOf(StepKind.Sparse));
        Assert.Equal((7, 11, 12), (s.FullCount, s.SparseCount, s.SkippedCount));
        double sparseCost = SparseCostModel.For(Backbone.Lumina).SparseCost(0.5);
        Assert.Equal(sparseCost, s.SparseStepCost, 12);
        Assert.Equal((7 + 11 * sparseCost) / 30, s.RelativeCost, 12);
    }

    [Theory]
    [InlineData(Backbone.Lumina)]
    [InlineData(Backbone.Sd3)]
    [InlineData(Backbone.Flux)]
    public void Sparse_ffn_off_keeps_the_steps_and_raises_the_relative_cost(Backbone backbone)
    {
        var on = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, backbone) with { SkipSparse = true, MaskStep = 5 };
        var off = on.With("sparse_ffn", "off");
        StepSchedule a = Create(on), b = Create(off);
        Assert.Equal(a.Steps, b.Steps);
        Assert.True(a.SparseCount > 0);
        Assert.True(b.SparseStepCost > a.SparseStepCost, $"sparse step {b.SparseStepCost} vs {a.SparseStepCost}");
        Assert.True(b.RelativeCost > a.RelativeCost, $"relative cost {b.RelativeCost} vs {a.RelativeCost}");
        Assert.Equal(SparseCostModel.For(off).SparseCost(1 - off.SkipRatio), b.SparseStepCost, 12);
        // A cost model passed in (as explain and the sampler do) is costed with the options' sparse_ffn, also after
        // the mask's focus fraction is known.
        StepSchedule given = StepSchedule.Create(off, off.Steps, Sigmas(off.Steps), SparseCostModel.For(backbone, 1024));
        Assert.False(given.CostModel!.SparseFeedForward);
        Assert.Equal(SparseCostModel.For(off, 1024).SparseCost(0.4), given.WithFocusFraction(0.4).SparseStepCost, 12);
    }

    [Theory]
    [InlineData(Backbone.Lumina, 30)]
    [InlineData(Backbone.Sd3, 28)]
    [InlineData(Backbone.Lumina, 28)]
    public void Engine_rules_with_warmup_mask_step_plus_3_give_the_reference_lists(Backbone backbone, int steps)
    {
        // The reference's first skip is M + 3 (s = i − (M+1) ≥ 2); as an engine warmup that is warmup = M + 3.
        var o = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, backbone) with { Warmup = 8 };
        Assert.Equal(Create(o with { Schedule = ScheduleStyle.Reference }, steps).Steps, Create(o, steps).Steps);
    }

    [Fact]
    public void Engine_flux_equals_the_reference_list_and_none_is_dense()
    {
        var flux = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Flux);
        Assert.Equal(Create(flux with { Schedule = ScheduleStyle.Reference }).Steps, Create(flux).Steps);
        foreach (Backbone b in Enum.GetValues<Backbone>())
        {
            var dense = Create(AccelerationOptions.ForPreset(AccelerationPreset.None, b));
            Assert.All(dense.Steps, e => Assert.Equal(StepKind.Full, e.Kind));
            Assert.Equal(1.0, dense.RelativeCost);
        }
    }

    public static IEnumerable<object[]> RandomOptions()
    {
        var rng = new Random(1234);
        for (int n = 0; n < 300; n++)
        {
            int steps = rng.Next(1, 40);
            var o = AccelerationOptions.ForPreset(AccelerationPreset.None, (Backbone)rng.Next(3)) with
            {
                Steps = steps,
                Warmup = rng.Next(0, steps + 1),
                Interval = rng.Next(1, 5),
                Schedule = rng.Next(2) == 0 ? ScheduleStyle.Engine : ScheduleStyle.Reference,
            };
            if (rng.Next(3) > 0)
            {
                bool sparse = rng.Next(2) == 0;
                o = o with { MaskStep = rng.Next(0, steps), SkipSparse = sparse, Refresh = sparse && rng.Next(2) == 0 ? rng.Next(1, 5) : 0 };
            }

            yield return [n, o];
        }
    }

    [Theory]
    [MemberData(nameof(RandomOptions))]
    public void Schedule_invariants(int seed, AccelerationOptions o)
    {
        var s = Create(o);
        Assert.Equal(o.Steps, s.Count);
        Assert.Equal(s.Count, s.FullCount + s.SparseCount + s.SkippedCount);
        Assert.True(s.Steps.Select((e, i) => e.Index == i).All(x => x), $"seed {seed}: indices");

        // The capture step is always a full capture; with SkipSparse the step after it always fills the caches.
        if (o.MaskStep is int m)
        {
            Assert.Equal(StepKind.FullCaptureMask, s[m].Kind);
            Assert.Single(s.IndicesOf(StepKind.FullCaptureMask));
            if (o.SkipSparse && m + 1 < o.Steps) Assert.Equal(StepKind.FullFillCache, s[m + 1].Kind);
        }
        else
        {
            Assert.Empty(s.IndicesOf(StepKind.FullCaptureMask));
        }

        // Sparse steps only after a cache fill; no sparse steps without SkipSparse.
        int firstFill = Array.IndexOf(s.Steps.Select(e => e.Kind).ToArray(), StepKind.FullFillCache);
        foreach (int i in s.IndicesOf(StepKind.Sparse)) Assert.True(o.SkipSparse && firstFill >= 0 && i > firstFill, $"seed {seed}: sparse step {i}");

        // Interval 1 never skips; warmup steps are never skipped; a skip always has a computed step before it.
        if (o.Interval == 1) Assert.Equal(0, s.SkippedCount);
        foreach (int i in s.IndicesOf(StepKind.Skip))
        {
            Assert.True(i >= o.Warmup || o.MaskStep is not null, $"seed {seed}: skip {i} inside warmup {o.Warmup}");
            int computedBefore = s.Steps.Take(i).Count(e => e.Kind.IsComputed());
            Assert.True(computedBefore >= (o.Schedule == ScheduleStyle.Engine ? 2 : 1), $"seed {seed}: skip {i} after {computedBefore} computed steps");
        }

        // Engine style: computed steps after the warmup are `interval` apart unless forced by capture / fill.
        if (o.Schedule == ScheduleStyle.Engine && o.Interval > 1)
        {
            for (int i = o.Warmup; i < o.Steps; i++)
            {
                bool onGrid = (i - o.Warmup) % o.Interval == o.Interval - 1;
                bool forced = i == o.MaskStep || (o.SkipSparse && i == o.MaskStep + 1);
                if (onGrid) Assert.True(s[i].Kind.IsComputed(), $"seed {seed}: step {i} on the compute grid is skipped");
                else if (!forced && s[i].Kind.IsComputed())
                    Assert.True(s.Steps.Take(i).Count(e => e.Kind.IsComputed()) < 2, $"seed {seed}: step {i} computed off the grid");
            }
        }

        // Refresh: never more than `refresh − 1` sparse steps in a row between fills (engine style).
        if (o.Schedule == ScheduleStyle.Engine && o.Refresh > 0)
        {
            int run = 0;
            foreach (var e in s.Steps)
            {
                if (e.Kind == StepKind.Sparse) Assert.True(++run < o.Refresh, $"seed {seed}: {run} sparse steps without refresh {o.Refresh}");
                else if (e.Kind.IsFull()) run = 0;
            }
        }
    }

    [Fact]
    public void Engine_refresh_every_R_computed_steps()
    {
        var o = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina) with { Refresh = 3 };
        var s = Create(o);
        // fill 6; computed after it: 8 10 12 14 16 …; every third is a refresh fill.
        Assert.Equal(new[] { 6, 12, 18, 24 }, s.IndicesOf(StepKind.FullFillCache));
        Assert.Equal(new[] { 8, 10, 14, 16, 20, 22, 26, 28 }, s.IndicesOf(StepKind.Sparse));
    }

    [Fact]
    public void Mask_fallback_turns_sparse_steps_and_fills_into_full_steps()
    {
        var s = Create(AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina));
        var f = s.WithMaskFallback();
        Assert.Equal(0, f.SparseCount);
        Assert.Empty(f.IndicesOf(StepKind.FullFillCache));
        Assert.Equal(s.IndicesOf(StepKind.Skip), f.IndicesOf(StepKind.Skip));
        Assert.Equal(s.IndicesOf(StepKind.FullCaptureMask), f.IndicesOf(StepKind.FullCaptureMask));
        Assert.Equal((double)f.ComputedCount / f.Count, f.RelativeCost, 12);
    }

    [Fact]
    public void Focus_fraction_changes_only_the_cost()
    {
        var s = Create(AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina));
        var everything = s.WithFocusFraction(1.0);
        Assert.Equal(s.Steps, everything.Steps);
        Assert.Equal((double)s.ComputedCount / s.Count, everything.RelativeCost, 12);
        Assert.True(s.WithFocusFraction(0.2).RelativeCost < s.RelativeCost);
    }

    [Fact]
    public void Json_has_exactly_the_documented_shape_and_round_trips()
    {
        var s = Create(AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina));
        string json = s.ToJson();
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal(["steps", "full", "sparse", "skipped", "relative_cost"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(s.FullCount, root.GetProperty("full").GetInt32());
        Assert.Equal(s.SparseCount, root.GetProperty("sparse").GetInt32());
        Assert.Equal(s.SkippedCount, root.GetProperty("skipped").GetInt32());
        Assert.Equal(s.RelativeCost, root.GetProperty("relative_cost").GetDouble(), 12);
        var steps = root.GetProperty("steps").EnumerateArray().ToArray();
        Assert.Equal(30, steps.Length);
        for (int i = 0; i < steps.Length; i++)
        {
            Assert.Equal(["index", "kind", "sigma"], steps[i].EnumerateObject().Select(p => p.Name));
            Assert.Equal(i, steps[i].GetProperty("index").GetInt32());
            Assert.Equal(s[i].Kind.JsonName(), steps[i].GetProperty("kind").GetString());
            Assert.Equal(s[i].Sigma, steps[i].GetProperty("sigma").GetSingle());
        }

        Assert.Equal("full_capture_mask", steps[5].GetProperty("kind").GetString());
        Assert.Equal("full_fill_cache", steps[6].GetProperty("kind").GetString());
        Assert.Equal("skip", steps[7].GetProperty("kind").GetString());
        Assert.Equal("sparse", steps[8].GetProperty("kind").GetString());

        var back = StepSchedule.FromJson(s.ToJson(indented: true));
        Assert.Equal(s.Steps, back.Steps);
        Assert.Equal(s.RelativeCost, back.RelativeCost, 12);
        Assert.Throws<AccelAesException>(() => StepSchedule.FromJson(json.Replace("\"full\":7", "\"full\":8")));
        Assert.Throws<AccelAesException>(() => StepSchedule.FromJson(json.Replace("\"skip\"", "\"nap\"")));
        Assert.Throws<AccelAesException>(() => StepSchedule.FromJson("{\"steps\": ["));
    }

    [Fact]
    public void Create_takes_sigmas_from_the_scheduler_and_rejects_bad_input()
    {
        var sigmas = new AccelAes.Engine.Sampling.SigmaSchedule([1000f, 500f, 10f], [1f, 0.5f, 0.01f, 0f]);
        var s = StepSchedule.Create(AccelerationOptions.ForPreset(AccelerationPreset.None, Backbone.Sd3), sigmas);
        Assert.Equal([1f, 0.5f, 0.01f], s.Steps.Select(e => e.Sigma));
        var o = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina);
        Assert.Contains("σ", Assert.Throws<AccelAesException>(() => StepSchedule.Create(o, 30, new float[29])).Message);
        Assert.Contains("mask_step", Assert.Throws<AccelAesException>(() => StepSchedule.Create(o, 5, Sigmas(5))).Message);
    }
}
