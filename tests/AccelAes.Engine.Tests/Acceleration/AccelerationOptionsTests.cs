using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.AesMask;

namespace AccelAes.Engine.Tests.Acceleration;

public class AccelerationOptionsTests
{
    [Fact]
    public void AccelAes_presets_carry_the_papers_defaults()
    {
        var lumina = AccelerationOptions.ForPreset("accelaes", Backbone.Lumina);
        Assert.Equal((30, 4.0, 5, 0.5, true, 7.0, 1.0, true, 2, 5), (lumina.Steps, lumina.GuidanceScale, lumina.MaskStep, lumina.SkipRatio,
            lumina.SpatialCfg, lumina.ForegroundScale, lumina.BackgroundScale, lumina.SkipSparse, lumina.Interval, lumina.Warmup));
        Assert.Equal([0, 4, 8, 12, 16, 20], lumina.ResolveCaptureLayers(24));
        Assert.Equal(1.0, lumina.EffectiveBlurSigma);
        Assert.Equal(ExtrapolationRule.LinearInSigma, lumina.Extrapolation);
        Assert.Equal(FallbackGuidance.UniformCfg, lumina.FallbackGuidance);

        var sd3 = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Sd3);
        Assert.Equal((28, 7.0, 5, false, false, 2), (sd3.Steps, sd3.GuidanceScale, sd3.MaskStep, sd3.SpatialCfg, sd3.SkipSparse, sd3.Interval));
        Assert.Equal([0, 4, 8, 12, 16, 20], sd3.ResolveCaptureLayers(24));

        var flux = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Flux);
        Assert.Equal((28, 3.5, (int?)null, 5, 2, false), (flux.Steps, flux.GuidanceScale, flux.MaskStep, flux.Warmup, flux.Interval, flux.UsesCfg));
        Assert.Equal([0, 3, 6, 9, 12, 15, 18], flux.ResolveCaptureLayers(19));

        foreach (Backbone b in Enum.GetValues<Backbone>())
        {
            foreach (AccelerationPreset p in Enum.GetValues<AccelerationPreset>())
            {
                // RAS's authors published SD3 and Lumina-Next only.
                if (p == AccelerationPreset.Ras && b == Backbone.Flux)
                    Assert.Contains(AccelerationOptions.ForPreset(p, b).Validate(), e => e.StartsWith("ras: runs on SD3 and Lumina-Next only"));
                else
                    Assert.Empty(AccelerationOptions.ForPreset(p, b).Validate());
            }
            var none = AccelerationOptions.ForPreset(AccelerationPreset.None, b);
            Assert.Equal((1, (int?)null, false, false), (none.Interval, none.MaskStep, none.SkipSparse, none.SpatialCfg));
            var sc = AccelerationOptions.ForPreset(AccelerationPreset.StepCache, b);
            Assert.Equal((2, 2, (int?)null), (sc.Interval, sc.Warmup, sc.MaskStep));
        }

        Assert.Throws<AccelAesException>(() => AccelerationOptions.ForPreset("fast", Backbone.Sd3));
    }

    [Theory]
    [InlineData("top_k", "0", "top_k:")]
    [InlineData("skip_ratio", "1", "skip_ratio:")]
    [InlineData("skip_ratio", "-0.1", "skip_ratio:")]
    [InlineData("mask_step", "30", "mask_step:")]
    [InlineData("mask_step", "-1", "mask_step:")]
    [InlineData("s_fg", "NaN", "s_fg:")]
    [InlineData("s_bg", "Infinity", "s_bg:")]
    [InlineData("warmup", "31", "warmup:")]
    [InlineData("interval", "0", "interval:")]
    [InlineData("refresh", "-2", "refresh:")]
    [InlineData("layers", "every:0", "layers:")]
    [InlineData("layers", "0,4,4", "layers:")]
    [InlineData("layers", "-1", "layers:")]
    [InlineData("blur_sigma", "0", "blur_sigma:")]
    [InlineData("std_threshold", "-1", "std_threshold:")]
    [InlineData("gate", "1.5", "gate:")]
    [InlineData("affinity", "logits", "affinity:")]
    public void Validation_names_the_knob(string knob, string value, string prefix)
    {
        var o = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina).With(knob, value);
        var errors = o.Validate();
        Assert.Contains(errors, e => e.StartsWith(prefix, StringComparison.Ordinal));
        Assert.Contains(prefix, Assert.Throws<AccelAesException>(() => o.Validated()).Message);
    }

    [Fact]
    public void Cross_knob_rules()
    {
        var flux = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Flux);
        Assert.Contains(flux.With("spatial_cfg", "on").Validate(), e => e.StartsWith("spatial_cfg:") && e.Contains("FLUX"));
        Assert.Contains(flux.With("sparse", "on").Validate(), e => e.StartsWith("sparse:"));
        Assert.Empty(flux.With("mask_step", "8").With("sparse", "on").Validate());
        var lumina = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina);
        Assert.Contains(lumina.With("mask_step", "off").Validate(), e => e.StartsWith("spatial_cfg:"));
        Assert.Contains(lumina.With("sparse", "off").With("refresh", "3").Validate(), e => e.StartsWith("refresh:"));
        Assert.Empty(AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Sd3).With("affinity", "logits").Validate());
    }

    [Fact]
    public void Every_knob_is_settable_from_text()
    {
        var o = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina);
        var changed = o.With("skip_ratio", "0.3").With("mask_step", "7").With("spatial_cfg", "off")
            .With("s_fg", "8").With("s_bg", "2").With("sparse", "off").With("warmup", "3").With("interval", "3")
            .With("layers", "1,5,9").With("extrapolation", "reference").With("schedule", "reference").With("threshold", "sd3_percentile")
            .With("blur_sigma", "2").With("std_threshold", "0.2").With("gate", "0.5").With("fallback_guidance", "s_fg")
            .With("affinity", "probabilities").With("words", "topk").With("top_k", "3").With("weighting", "non_aesthetic").With("sparse_ffn", "off");
        Assert.Equal((WordSelection.TopK, 3, TokenWeighting.NonAesthetic), (changed.WordSelection, changed.TopK, changed.TokenWeighting));
        Assert.False(changed.SparseFeedForward);
        Assert.Equal(ExtrapolationRule.LinearInStepIndex, o.With("extrapolation", "index").Extrapolation);
        Assert.Equal(0.3, changed.SkipRatio);
        Assert.Equal(7, changed.MaskStep);
        Assert.False(changed.SpatialCfg);
        Assert.Equal((8.0, 2.0), (changed.ForegroundScale, changed.BackgroundScale));
        Assert.False(changed.SkipSparse);
        Assert.Equal((3, 3), (changed.Warmup, changed.Interval));
        Assert.Equal([1, 5, 9], changed.ResolveCaptureLayers(24));
        Assert.Equal(ExtrapolationRule.ReferenceDoubledSlope, changed.Extrapolation);
        Assert.Equal(ScheduleStyle.Reference, changed.Schedule);
        Assert.Equal(MaskThresholdRule.Sd3FluxPercentile, changed.Threshold);
        Assert.Equal(2.0, changed.EffectiveBlurSigma);
        Assert.Equal(0.2, changed.StdThreshold);
        Assert.Equal(0.5, changed.ConfidenceGate);
        Assert.Equal(FallbackGuidance.ReferenceForegroundScale, changed.FallbackGuidance);
        Assert.Empty(changed.Validate());
        Assert.Equal(1.5, changed.With("blur_sigma", "auto").EffectiveBlurSigma);
        Assert.Equal(new MaskFinalisationOptions(0.3, 2.0, 0.2, MaskThresholdRule.Sd3FluxPercentile), changed.MaskFinalisation);
        Assert.Equal([0, 2, 4, 6], o.With("layers", "every:2").ResolveCaptureLayers(7));
        Assert.Equal(24, o.With("layers", "all").ResolveCaptureLayers(24).Length);
        Assert.All(AccelerationOptions.Knobs, k => Assert.False(string.IsNullOrWhiteSpace(k.Description)));
    }

    [Theory]
    [InlineData("steps", "4", "--steps")]
    [InlineData("guidance", "3", "--guidance")]
    [InlineData("cfg", "3", "--guidance")]
    public void The_runs_own_settings_are_not_knobs(string knob, string value, string option)
    {
        // One place sets each: a --set steps=… that the run's --steps silently replaced was a trap.
        var o = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Sd3);
        Assert.Contains(option, Assert.Throws<AccelAesException>(() => o.With(knob, value)).Message);
        Assert.DoesNotContain(AccelerationOptions.Knobs, k => k.Name == knob);
    }

    [Theory]
    [InlineData("skip_ratio=0.3", "extrapolation=index", "schedule=reference", "threshold=sd3_percentile", "words=topk", "weighting=non_aesthetic")]
    [InlineData("mask_step=off", "spatial_cfg=off", "sparse=off", "extrapolation=reference", "fallback_guidance=s_fg", "weighting=uniform", "layers=0,2")]
    [InlineData("affinity=logits", "blur_sigma=0.7", "sparse_ffn=off", "top_k=3", "gate=0.55", "s_fg=8.25", "refresh=2")]
    public void Knob_values_are_written_as_with_reads_them(params string[] overrides)
    {
        // Every knob written by KnobValues and given back through With reproduces the options (records rerun from these).
        var preset = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Sd3);
        var options = overrides.Aggregate(preset, (o, kv) => o.With(kv[..kv.IndexOf('=')], kv[(kv.IndexOf('=') + 1)..]));
        var values = options.KnobValues().ToList();
        Assert.Equal(AccelerationOptions.Knobs.Select(k => k.Name).Order(), values.Select(v => v.Key).Order());
        var again = values.Aggregate(AccelerationOptions.ForPreset(AccelerationPreset.None, Backbone.Sd3), (o, kv) => o.With(kv.Key, kv.Value));
        Assert.Equal(values, again.KnobValues());
        Assert.NotEqual(values, preset.KnobValues());
    }

    [Fact]
    public void Text_errors_name_the_knob()
    {
        var o = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina);
        Assert.StartsWith("skip_ratio:", Assert.Throws<AccelAesException>(() => o.With("skip_ratio", "half")).Message);
        Assert.StartsWith("sparse:", Assert.Throws<AccelAesException>(() => o.With("sparse", "maybe")).Message);
        Assert.StartsWith("schedule:", Assert.Throws<AccelAesException>(() => o.With("schedule", "paper")).Message);
        Assert.Contains("skip_ratio", Assert.Throws<AccelAesException>(() => o.With("speed", "max")).Message);
        Assert.Contains("layers: layer 24", Assert.Throws<AccelAesException>(() => o.With("layers", "0,24").ResolveCaptureLayers(24)).Message);
    }
}
