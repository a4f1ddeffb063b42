using AccelAes.Engine.Acceleration;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>
/// Presets as functions of the step count (issue 13, item 1): the published values at the paper's step counts, step
/// indices scaled with N elsewhere, components off (with a note) below their minimum, and no valid step count an error.
/// </summary>
public class PresetStepScalingTests
{
    /// <summary>
    /// The presets whose step schedule (<see cref="StepSchedule"/>) is fixed before the run. The caching policies have
    /// rules of their own: TeaCache and FBCache decide during the run, FORA by its interval at any step count
    /// (TeaCacheRuleTests, FirstBlockCacheTests, ForaTests).
    /// </summary>
    private static readonly AccelerationPreset[] StaticPresets =
        [.. Enum.GetValues<AccelerationPreset>().Where(p => !AccelerationOptions.ForPreset(p, Backbone.Flux).UsesCachePolicy)];

    public static TheoryData<Backbone, int, AccelerationPreset> EveryCase()
    {
        var data = new TheoryData<Backbone, int, AccelerationPreset>();
        foreach (Backbone b in Enum.GetValues<Backbone>())
            foreach (int n in new[] { 1, 2, 3, 4, 6, 7, 8, 12, 28, 30, 50, 200 })
                foreach (AccelerationPreset p in StaticPresets)
                    data.Add(b, n, p);
        return data;
    }

    [Theory]
    [MemberData(nameof(EveryCase))]
    public void Every_preset_resolves_and_schedules_at_every_step_count(Backbone backbone, int steps, AccelerationPreset preset)
    {
        AccelerationOptions o = new AccelerationRequest(preset, []).Resolve(backbone, steps, 5);
        Assert.Equal(steps, o.Steps);
        var sigmas = Enumerable.Range(0, steps + 1).Select(i => 1f - i / (float)steps).ToArray();
        StepSchedule schedule = StepSchedule.Create(o, steps, sigmas);
        Assert.Equal(steps, schedule.Count);
        bool below = steps < AccelerationOptions.MinimumStepsForStepCache;
        if (preset != AccelerationPreset.None && below)
        {
            Assert.Equal(0, schedule.SkippedCount + schedule.SparseCount); // every step computed densely...
            Assert.Contains("StepCache is off", o.PresetNote);              // ...and the run says why
        }
        if (preset != AccelerationPreset.None && !below)
            Assert.True(schedule.SkippedCount > 0, $"{preset} at {steps} steps skips nothing");
        if (o.MaskStep is int m) Assert.InRange(m, 1, steps - 2); // a mask leaves steps to use it
    }

    [Theory]
    [InlineData(Backbone.Lumina, 30)]
    [InlineData(Backbone.Sd3, 28)]
    [InlineData(Backbone.Flux, 28)]
    public void At_the_papers_step_count_the_published_values_apply_unchanged(Backbone backbone, int steps)
    {
        foreach (AccelerationPreset p in StaticPresets)
        {
            AccelerationOptions published = AccelerationOptions.ForPreset(p, backbone);
            Assert.Equal(steps, published.Steps);
            Assert.Equal(published, AccelerationOptions.ForPreset(p, backbone, steps));
        }
    }

    [Theory]
    [InlineData(Backbone.Sd3, 56, 10, 10)]  // twice the paper's 28: mask and warmup at twice the index
    [InlineData(Backbone.Sd3, 50, 9, 9)]    // 5·50/28 = 8.9
    [InlineData(Backbone.Lumina, 12, 2, 2)] // 5·12/30 = 2
    [InlineData(Backbone.Lumina, 8, 1, 2)]  // 5·8/30 = 1.3; warmup at least 2 (extrapolation needs two computed steps)
    public void The_mask_step_and_warmup_scale_with_the_step_count(Backbone backbone, int steps, int maskStep, int warmup)
    {
        AccelerationOptions o = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, backbone, steps);
        Assert.Equal((maskStep, warmup), (o.MaskStep, o.Warmup));
        Assert.Null(o.PresetNote);
        // StepCache's published warmup of 2 scales too, never below the two computed steps extrapolation needs.
        int stepCacheWarmup = AccelerationOptions.ForPreset(AccelerationPreset.StepCache, backbone, steps).Warmup;
        Assert.Equal(Math.Max(2, (int)Math.Round(2.0 * steps / AccelerationOptions.ForPreset(AccelerationPreset.None, backbone).Steps, MidpointRounding.AwayFromZero)), stepCacheWarmup);
    }

    [Fact]
    public void Below_the_minimum_the_mask_turns_off_with_spatial_cfg_and_sparse_and_says_so()
    {
        AccelerationOptions o = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina, 4);
        Assert.Equal((null, false, false, 1), (o.MaskStep, o.SpatialCfg, o.SkipSparse, o.Interval));
        Assert.Contains("AesMask is off", o.PresetNote);
        Assert.Contains("with 4 steps (fewer than 8)", o.PresetNote);
    }

    [Fact]
    public void An_override_that_switches_a_component_back_on_is_honoured_and_leaves_no_note_for_it()
    {
        AccelerationOptions o = AccelerationRequest.Parse("accelaes", ["interval=2", "warmup=1"]).Resolve(Backbone.Sd3, 4, 7);
        Assert.Equal((2, 1), (o.Interval, o.Warmup));
        Assert.DoesNotContain("StepCache is off", o.PresetNote);
        Assert.Contains("AesMask is off", o.PresetNote);
    }

    [Fact]
    public void An_explicit_override_the_run_cannot_honour_is_still_an_error_naming_the_knob()
    {
        var request = AccelerationRequest.Parse("stepcache", ["warmup=5"]);
        var error = Assert.Throws<AccelAesException>(() => request.Resolve(Backbone.Flux, 3, 3.5));
        Assert.Contains("warmup", error.Message);
    }
}
