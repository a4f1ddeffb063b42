using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.AesMask;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>
/// Heat map → mask against conformance/aesmask/mask_finalisation. Lumina (AesMask) keys bitwise where the
/// arithmetic is pinned, blur outputs at 5e-7, token masks exact against the float32 keys (the engine takes
/// the token mask from the fp32 soft mask, DESIGN §5); SD3/FLUX keys through the Sd3FluxPercentile option.
/// </summary>
public class MaskFinalisationGoldenTests
{
    public static TheoryData<string> Cases => AesMaskGoldens.CaseNames("mask_finalisation");

    [GoldenTheory]
    [MemberData(nameof(Cases))]
    public void AesMask_rule_matches_the_reference(string name)
    {
        string path = AesMaskGoldens.PathOf("mask_finalisation", name);
        var g = GoldenTensors.Load(path);
        var heatIn = g["heat_in"];
        int h = heatIn.Shape[0], w = heatIn.Shape[1];
        double skip = AesMaskGoldens.SkipRatio("mask_finalisation", name);

        FocusMask mask = MaskFinalisation.Finalise(heatIn.Values, h, w, new MaskFinalisationOptions(skip));

        AesMaskGoldens.AssertBitwise(g["heat_norm"].Values, mask.HeatNormalised, $"{name} heat_norm");
        AesMaskGoldens.AssertClose(g["heat_std"].Values, [mask.HeatStd], 1e-6, $"{name} heat_std");
        Assert.Equal(g["fallback"].Values[0] != 0, mask.Fallback);
        Assert.Equal(h * w, mask.FocusIndices.Length + mask.BackgroundIndices.Length);

        if (mask.Fallback)
        {
            Assert.False(g.ContainsKey("threshold"));
            Assert.Null(mask.Binary);
            Assert.True(mask.IsEverything);
            AesMaskGoldens.AssertMaskEqual(AesMaskGoldens.Mask(g["token_mask_f32"]), mask.IsFocus, $"{name} token_mask_f32 (fallback)");
            CheckScaleMap(name, g, mask, h, w);
            return;
        }

        AesMaskGoldens.AssertBitwise(g["threshold"].Values, [(float)mask.Threshold], $"{name} threshold");
        AesMaskGoldens.AssertMaskEqual(AesMaskGoldens.Mask(g["binary_mask"]), mask.Binary!, $"{name} binary_mask");
        AesMaskGoldens.AssertClose(g["soft_sigma1"].Values, mask.Soft, 5e-7, $"{name} soft_sigma1");
        AesMaskGoldens.AssertMaskEqual(AesMaskGoldens.Mask(g["token_mask_f32"]), mask.IsFocus, $"{name} token_mask_f32");
        // The reference's bf16 token mask is the same soft mask after a bf16 cast (the quirk the engine does not copy).
        AesMaskGoldens.AssertMaskEqual(AesMaskGoldens.Mask(g["token_mask_bf16"]), AesMaskGoldens.Bf16TokenMask(g["soft_sigma1"].Values), $"{name} token_mask_bf16 = bf16(soft) > 0.5");

        // The focus list is the token mask in row-major order.
        Assert.Equal(Enumerable.Range(0, h * w).Where(p => mask.IsFocus[p]).ToArray(), mask.FocusIndices);

        // The Lumina binary mask blurred with the SD3/FLUX σ.
        float[] binary = Array.ConvertAll(mask.Binary!, b => b ? 1f : 0f);
        AesMaskGoldens.AssertClose(g["soft_sigma1p5"].Values, GaussianBlur.Blur(binary, h, w, 1.5), 5e-7, $"{name} soft_sigma1p5");
        CheckScaleMap(name, g, mask, h, w);
    }

    /// <summary>
    /// s_map_f32 (1 + 6·m nearest-upsampled ×2) where the mask exists; on fallback the engine uses uniform cfg_scale
    /// while the reference's key is s_fg everywhere, which the ReferenceForegroundScale option reproduces.
    /// </summary>
    private static void CheckScaleMap(string name, Dictionary<string, GoldenTensor> g, FocusMask mask, int h, int w)
    {
        var meta = AesMaskGoldens.Meta("mask_finalisation", name);
        var options = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina) with
        {
            ForegroundScale = AesMaskGoldens.Number(meta, "lumina_s_fg", 7.0),
            BackgroundScale = AesMaskGoldens.Number(meta, "lumina_s_bg", 1.0),
        };
        var expected = g["s_map_f32"];
        Assert.Equal(new[] { 2 * h, 2 * w }, expected.Shape);
        int step = options.MaskStep!.Value;
        GuidanceScaleMap map = SpatialGuidance.ForStep(options, step, mask, 2 * h, 2 * w);
        if (!mask.Fallback)
        {
            Assert.False(map.IsUniform);
            AesMaskGoldens.AssertClose(expected.Values, map.Map!, 3e-6, $"{name} s_map_f32");
            // The map arithmetic itself is bitwise: from the reference's own soft mask.
            float[] fromReferenceSoft = SpatialGuidance.ScaleMap(g["soft_sigma1"].Values, h, w, 2, options.ForegroundScale, options.BackgroundScale);
            AesMaskGoldens.AssertBitwise(expected.Values, fromReferenceSoft, $"{name} s_map_f32 from the reference soft mask");
            return;
        }

        Assert.True(map.IsUniform);
        Assert.Equal((float)options.GuidanceScale, map.Uniform);
        Assert.All(expected.Values, v => Assert.Equal((float)options.ForegroundScale, v));
        var reference = SpatialGuidance.ForStep(options with { FallbackGuidance = FallbackGuidance.ReferenceForegroundScale }, step, mask, 2 * h, 2 * w);
        AesMaskGoldens.AssertBitwise(expected.Values, reference.ToArray(), $"{name} s_map_f32 (reference fallback option)");
    }

    [GoldenTheory]
    [MemberData(nameof(Cases))]
    public void Sd3_flux_reference_rule_matches_the_reference(string name)
    {
        string path = AesMaskGoldens.PathOf("mask_finalisation", name);
        var g = GoldenTensors.Load(path);
        var heatIn = g["heat_in"];
        int h = heatIn.Shape[0], w = heatIn.Shape[1];
        double skip = AesMaskGoldens.SkipRatio("mask_finalisation", name);

        FocusMask mask = MaskFinalisation.Finalise(heatIn.Values, h, w, MaskFinalisationOptions.Sd3FluxReference(skip));

        Assert.False(mask.Fallback); // this path has no flatness fallback
        double expected = AesMaskGoldens.ReadF64(path, "sd3_threshold")[0];
        Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(mask.Threshold),
            $"{name} sd3_threshold: expected {expected:R}, got {mask.Threshold:R}");
        AesMaskGoldens.AssertMaskEqual(AesMaskGoldens.Mask(g["sd3_binary_mask"]), mask.Binary!, $"{name} sd3_binary_mask");
        var soft = g["sd3_soft_sigma1p5"];
        AesMaskGoldens.AssertClose(soft.Values, mask.Soft, 5e-7, $"{name} sd3_soft_sigma1p5");
        // Engine semantics: focus = fp32 soft > 0.5 (the reference's key is bf16-based; none of its soft values sit near 0.5 by design).
        AesMaskGoldens.AssertMaskEqual(Array.ConvertAll(soft.Values, v => v > 0.5f), mask.IsFocus, $"{name} sd3 token mask (fp32 soft)");
        AesMaskGoldens.AssertMaskEqual(AesMaskGoldens.Mask(g["sd3_token_mask_bf16"]), AesMaskGoldens.Bf16TokenMask(soft.Values), $"{name} sd3_token_mask_bf16 = bf16(soft) > 0.5");
    }
}
