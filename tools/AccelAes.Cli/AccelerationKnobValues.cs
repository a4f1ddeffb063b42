using System.Globalization;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.AesMask;

namespace AccelAes.Cli;

/// <summary>
/// Resolved acceleration options as knob → value text in the vocabulary <c>--set</c> accepts, so each pair could be
/// given back as an override. Written into run records for information; a knob missing here is caught by a test
/// that compares with <see cref="AccelerationOptions.Knobs"/>.
/// </summary>
internal static class AccelerationKnobValues
{
    public static IEnumerable<KeyValuePair<string, string>> Of(AccelerationOptions o)
    {
        yield return new("skip_ratio", Number(o.SkipRatio));
        yield return new("mask_step", o.MaskStep is int m ? Number(m) : "off");
        yield return new("spatial_cfg", OnOff(o.SpatialCfg));
        yield return new("s_fg", Number(o.ForegroundScale));
        yield return new("s_bg", Number(o.BackgroundScale));
        yield return new("sparse", OnOff(o.SkipSparse));
        yield return new("refresh", Number(o.Refresh));
        yield return new("warmup", Number(o.Warmup));
        yield return new("interval", Number(o.Interval));
        yield return new("layers", o.CaptureLayers is { } layers ? string.Join(",", layers.Select(Number)) : $"every:{Number(o.CaptureLayerStride)}");
        yield return new("extrapolation", o.Extrapolation switch
        {
            ExtrapolationRule.LinearInSigma => "linear_sigma",
            ExtrapolationRule.LinearInStepIndex => "index",
            ExtrapolationRule.ReferenceDoubledSlope => "reference",
            var other => other.ToString(),
        });
        yield return new("schedule", o.Schedule switch
        {
            ScheduleStyle.Engine => "engine",
            ScheduleStyle.Reference => "reference",
            var other => other.ToString(),
        });
        yield return new("threshold", o.Threshold switch
        {
            MaskThresholdRule.Quantile => "quantile",
            MaskThresholdRule.Sd3FluxPercentile => "sd3_percentile",
            var other => other.ToString(),
        });
        yield return new("blur_sigma", o.BlurSigma is double sigma ? Number(sigma) : "auto");
        yield return new("std_threshold", Number(o.StdThreshold));
        yield return new("gate", Number(o.ConfidenceGate));
        yield return new("words", o.WordSelection switch
        {
            WordSelection.GlobalGate => "gate",
            WordSelection.TopK => "topk",
            var other => other.ToString(),
        });
        yield return new("top_k", Number(o.TopK));
        yield return new("weighting", o.TokenWeighting switch
        {
            TokenWeighting.Anchor => "anchor",
            TokenWeighting.Uniform => "uniform",
            TokenWeighting.NonAesthetic => "non_aesthetic",
            var other => other.ToString(),
        });
        yield return new("sparse_ffn", OnOff(o.SparseFeedForward));
        yield return new("fallback_guidance", o.FallbackGuidance switch
        {
            FallbackGuidance.UniformCfg => "cfg",
            FallbackGuidance.ReferenceForegroundScale => "s_fg",
            var other => other.ToString(),
        });
        yield return new("affinity", o.Affinity switch
        {
            AttentionAffinity.SoftmaxProbabilities => "probabilities",
            AttentionAffinity.ReferencePreSoftmaxLogits => "logits",
            var other => other.ToString(),
        });
        yield return new("rel_l1_thresh", Number(o.RelL1Threshold));
    }

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string OnOff(bool value) => value ? "on" : "off";
}
