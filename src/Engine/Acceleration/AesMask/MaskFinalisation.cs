namespace AccelAes.Engine.Acceleration.AesMask;

/// <summary>How the binary mask is cut from the heat map.</summary>
public enum MaskThresholdRule
{
    /// <summary>
    /// The AesMask rule (reference Lumina path, engine default on every backbone): float32 min-max, unbiased
    /// std &lt; 0.12 → fallback (no mask), <c>torch.quantile(heat_norm, skip_ratio)</c>, <c>≥</c>.
    /// </summary>
    Quantile,

    /// <summary>
    /// The reference code's SD3 / FLUX rule (<c>SD3SemanticMaskBuilder.build_mask</c>, region_method "threshold"):
    /// <c>np.percentile</c> on the un-normalised map (float64), compared in float32, no flatness fallback.
    /// Used with σ = 1.5 there.
    /// </summary>
    Sd3FluxPercentile,
}

/// <summary>Settings of <see cref="MaskFinalisation.Finalise"/>.</summary>
/// <param name="SkipRatio">Background fraction; the threshold keeps the top <c>1 − skip_ratio</c> of the heat map.</param>
/// <param name="BlurSigma">σ of the Gaussian blur of the binary mask (1.0 in AesMask, 1.5 in the SD3/FLUX reference).</param>
/// <param name="StdThreshold">Flatness fallback: no mask when the unbiased std of the normalised map (float32, widened to float64 as
/// the reference's <c>.item()</c> does) is below this.</param>
/// <param name="Rule">How the threshold is found.</param>
public sealed record MaskFinalisationOptions(
    double SkipRatio = 0.5,
    double BlurSigma = 1.0,
    double StdThreshold = 0.12,
    MaskThresholdRule Rule = MaskThresholdRule.Quantile)
{
    /// <summary>The reference code's SD3 / FLUX settings: percentile threshold, σ = 1.5, no fallback.</summary>
    public static MaskFinalisationOptions Sd3FluxReference(double skipRatio = 0.5) =>
        new(skipRatio, 1.5, 0.12, MaskThresholdRule.Sd3FluxPercentile);
}

/// <summary>
/// Heat map → <see cref="FocusMask"/>: the arithmetic of the reference's
/// <c>build_mask_from_cross_attention</c> + <c>_gaussian_blur</c> + <c>_build_masks_for_dual</c>, as pinned by
/// conformance/aesmask (mask_finalisation): float32 min-max with <c>+1e-8</c>, unbiased std check,
/// torch's linear-interpolation quantile (with its FMA lerp), <c>≥</c> binarisation, Gaussian blur with reflect
/// padding and clamp, <c>&gt; 0.5</c> on the float32 soft mask.
/// </summary>
/// <remarks>
/// Differs from the reference code by design in one place: the focus set is <c>soft &gt; 0.5</c> on the float32
/// soft mask, not on a bf16-rounded copy (DESIGN §5). Everything else is bit-faithful (see the tests).
/// </remarks>
public static class MaskFinalisation
{
    /// <summary>Builds the mask of a row-major <paramref name="height"/> × <paramref name="width"/> heat map.</summary>
    public static FocusMask Finalise(ReadOnlySpan<float> heat, int height, int width, MaskFinalisationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (height <= 0 || width <= 0) throw new ArgumentException($"The token grid {height} × {width} must have positive sides.");
        if (heat.Length != height * width)
            throw new AccelAesException($"The heat map has {heat.Length} values but the token grid is {height} × {width} = {height * width}.");
        if (!(options.SkipRatio >= 0 && options.SkipRatio < 1))
            throw new AccelAesException($"skip_ratio must be in [0, 1), got {options.SkipRatio}.");
        for (int p = 0; p < heat.Length; p++)
        {
            if (!float.IsFinite(heat[p]))
                throw new AccelAesException($"The AesMask heat map holds a non-finite value ({heat[p]}) at token {p} (row {p / width}, column {p % width}).");
        }

        float[] input = heat.ToArray();
        float[] normalised = MinMaxNormalise(input);
        float std = UnbiasedStd(normalised);

        bool[] binary;
        double threshold;
        if (options.Rule == MaskThresholdRule.Quantile)
        {
            // build_mask_from_cross_attention: `heatmap_std = heatmap.std().item()` (the float32 std as a Python
            // float), then `if heatmap_std < MIN_HEATMAP_STD: return None` in float64.
            if ((double)std < options.StdThreshold)
            {
                var ones = new float[input.Length];
                Array.Fill(ones, 1f);
                var all = new bool[input.Length];
                Array.Fill(all, true);
                return new FocusMask(height, width, input, normalised, std, fallback: true, double.NaN, null, ones, all);
            }

            float t = Quantile(normalised, QuantileLevel(options.SkipRatio));
            threshold = t;
            binary = new bool[input.Length];
            for (int p = 0; p < input.Length; p++) binary[p] = normalised[p] >= t;
        }
        else
        {
            // np.percentile(imp_np, (1 - ratio) * 100) is float64; `imp_np >= thresh` with a float32 array and a
            // numpy float64 scalar compares in float32 (NumPy 1.x value-based casting).
            double ratio = 1.0 - options.SkipRatio;
            threshold = Percentile(input, (1.0 - ratio) * 100);
            float t32 = (float)threshold;
            binary = new bool[input.Length];
            for (int p = 0; p < input.Length; p++) binary[p] = input[p] >= t32;
        }

        var binaryValues = new float[input.Length];
        for (int p = 0; p < input.Length; p++) binaryValues[p] = binary[p] ? 1f : 0f;
        float[] soft = GaussianBlur.Blur(binaryValues, height, width, options.BlurSigma);
        var focus = new bool[input.Length];
        for (int p = 0; p < input.Length; p++) focus[p] = soft[p] > 0.5f;
        return new FocusMask(height, width, input, normalised, std, fallback: false, threshold, binary, soft, focus);
    }

    /// <summary>
    /// The quantile level the reference passes to <c>torch.quantile</c>: <c>ratio = 1 − skip_ratio</c> and
    /// <c>q = 1 − ratio</c> in float64 (skip 0.3 gives 0.30000000000000004), converted to float32 by torch.
    /// </summary>
    public static float QuantileLevel(double skipRatio)
    {
        double ratio = 1.0 - skipRatio;
        return (float)(1.0 - ratio);
    }

    /// <summary>
    /// float32 min-max as the reference writes it: if max &gt; min, <c>(x − min) / (max − min + 1e-8)</c> with every
    /// operation rounded to float32 (so the maximum maps to 0.9999999… when the range is below 0.25); else a copy.
    /// </summary>
    public static float[] MinMaxNormalise(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty) return [];
        float min = values[0], max = values[0];
        foreach (float v in values)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }

        float[] result = values.ToArray();
        if (max > min)
        {
            float d = (max - min) + 1e-8f;
            for (int i = 0; i < result.Length; i++) result[i] = (result[i] - min) / d;
        }

        return result;
    }

    /// <summary>torch's <c>std()</c> (unbiased, N − 1): accumulated in float64, rounded to float32.</summary>
    public static float UnbiasedStd(ReadOnlySpan<float> values)
    {
        if (values.Length < 2) return float.NaN;
        double mean = 0;
        foreach (float v in values) mean += v;
        mean /= values.Length;
        double ss = 0;
        foreach (float v in values)
        {
            double d = v - mean;
            ss += d * d;
        }

        return (float)Math.Sqrt(ss / (values.Length - 1));
    }

    /// <summary>
    /// <c>torch.quantile(values, q)</c> (linear interpolation) bit for bit in float32: sort ascending,
    /// <c>rank = fl32(q·(n − 1))</c>, <c>lo = ⌊rank⌋</c>, <c>hi = ⌈rank⌉</c>, <c>w = rank − lo</c>, then torch's lerp
    /// <c>|w| &lt; 0.5 ? fma(w, b − a, a) : fma(−(b − a), 1 − w, b)</c> with <c>a = s[lo]</c>, <c>b = s[hi]</c>.
    /// </summary>
    public static float Quantile(ReadOnlySpan<float> values, float q)
    {
        if (values.IsEmpty) throw new ArgumentException("Quantile of an empty set.", nameof(values));
        if (!(q >= 0f && q <= 1f)) throw new ArgumentOutOfRangeException(nameof(q), q, "quantile level must be in [0, 1]");
        float[] sorted = values.ToArray();
        Array.Sort(sorted);
        float rank = q * (sorted.Length - 1);
        float lo = MathF.Floor(rank), hi = MathF.Ceiling(rank);
        float w = rank - lo;
        float a = sorted[(int)lo], b = sorted[(int)hi];
        float diff = b - a;
        return MathF.Abs(w) < 0.5f ? MathF.FusedMultiplyAdd(w, diff, a) : MathF.FusedMultiplyAdd(-diff, 1f - w, b);
    }

    /// <summary>
    /// <c>np.percentile(values, percent)</c> (NumPy 1.24, method "linear") on float32 values: virtual index
    /// <c>(n − 1)·percent/100</c> in float64; <c>b − a</c> rounded to float32 (both operands are float32), the
    /// rest in float64: <c>t &lt; 0.5 ? a + (b − a)·t : b − (b − a)·(1 − t)</c>.
    /// </summary>
    public static double Percentile(ReadOnlySpan<float> values, double percent)
    {
        if (values.IsEmpty) throw new ArgumentException("Percentile of an empty set.", nameof(values));
        if (!(percent >= 0 && percent <= 100)) throw new ArgumentOutOfRangeException(nameof(percent), percent, "percentile must be in [0, 100]");
        float[] sorted = values.ToArray();
        Array.Sort(sorted);
        int n = sorted.Length;
        double q = percent / 100;
        double virtualIndex = (n - 1) * q;
        if (virtualIndex >= n - 1) return sorted[n - 1];
        if (virtualIndex < 0) return sorted[0];
        int lo = (int)Math.Floor(virtualIndex);
        double t = virtualIndex - lo;
        float a = sorted[lo], b = sorted[lo + 1];
        float diff = b - a; // both operands float32: numpy subtracts in float32
        return t >= 0.5 ? b - (double)diff * (1 - t) : a + (double)diff * t;
    }
}
