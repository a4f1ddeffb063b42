using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>
/// Attention → heat map → mask against conformance/aesmask/aggregation (the reference's
/// <c>build_mask_from_cross_attention</c>): heat_raw at 1e-6 for float32 probabilities (bf16 probabilities: the
/// reference's CPU bf16 means round twice, so 2e-3), then the finalisation keys as in the mask tests.
/// </summary>
public class AggregationGoldenTests
{
    public static TheoryData<string> Cases => AesMaskGoldens.CaseNames("aggregation");

    [GoldenTheory]
    [MemberData(nameof(Cases))]
    public void Streaming_aggregation_and_finalisation_match_the_reference(string name)
    {
        string path = AesMaskGoldens.PathOf("aggregation", name);
        var g = GoldenTensors.Load(path);
        bool bf16;
        using (var set = SafeTensorsSet.OpenFile(path)) bf16 = set.Get("attn_probs").DType == SafeTensorDType.BF16;
        var probs = g["attn_probs"];
        Assert.Equal(4, probs.Shape.Length);
        int layers = probs.Shape[0], heads = probs.Shape[1], n = probs.Shape[2], l = probs.Shape[3];
        var heatRaw = g["heat_raw"];
        int h = heatRaw.Shape[0], w = heatRaw.Shape[1];
        Assert.Equal(n, h * w);
        double skip = AesMaskGoldens.SkipRatio("aggregation", name);

        float[] weights = g.TryGetValue("token_importance", out GoldenTensor? imp) ? imp.Values : HeatMapAccumulator.UniformWeights(l);
        var acc = new HeatMapAccumulator(n, weights);
        int perLayer = heads * n * l;
        for (int layer = 0; layer < layers; layer++) acc.AddProbabilities(layer, probs.Values.AsSpan(layer * perLayer, perLayer), heads);
        float[] heat = acc.Result();
        AesMaskGoldens.AssertClose(heatRaw.Values, heat, bf16 ? 2e-3 : 1e-6, $"{name} heat_raw");

        // Finalisation of the reference's own heat map: bitwise where the arithmetic is pinned.
        var options = new MaskFinalisationOptions(skip);
        FocusMask fromGolden = MaskFinalisation.Finalise(heatRaw.Values, h, w, options);
        AesMaskGoldens.AssertBitwise(g["heat_norm"].Values, fromGolden.HeatNormalised, $"{name} heat_norm");
        AesMaskGoldens.AssertClose(g["heat_std"].Values, [fromGolden.HeatStd], 1e-6, $"{name} heat_std");
        Assert.Equal(g["fallback"].Values[0] != 0, fromGolden.Fallback);
        CheckMask(name, g, fromGolden, exact: true);

        // The same from our own aggregation (f32 only; the bf16 capture differs by design): tolerances, same masks.
        // Only where the map's range is far above the aggregation tolerance: with uniform 1/L weights over
        // softmax rows that sum to 1 (a04) the map is 1/L plus float rounding, and min-max amplifies the rounding.
        float range = heatRaw.Values.Max() - heatRaw.Values.Min();
        if (!bf16 && range > 1e-3f)
        {
            FocusMask ours = MaskFinalisation.Finalise(heat, h, w, options);
            AesMaskGoldens.AssertClose(g["heat_norm"].Values, ours.HeatNormalised, 1e-5, $"{name} heat_norm (own aggregation)");
            Assert.Equal(fromGolden.Fallback, ours.Fallback);
            CheckMask(name + " (own aggregation)", g, ours, exact: false);
        }
    }

    private static void CheckMask(string name, Dictionary<string, GoldenTensor> g, FocusMask mask, bool exact)
    {
        if (mask.Fallback)
        {
            Assert.True(mask.IsEverything);
            AesMaskGoldens.AssertMaskEqual(AesMaskGoldens.Mask(g["token_mask_bf16"]), mask.IsFocus, $"{name} token mask (fallback: all tokens)");
            return;
        }

        if (exact) AesMaskGoldens.AssertBitwise(g["threshold"].Values, [(float)mask.Threshold], $"{name} threshold");
        else AesMaskGoldens.AssertClose(g["threshold"].Values, [(float)mask.Threshold], 1e-5, $"{name} threshold");
        AesMaskGoldens.AssertMaskEqual(AesMaskGoldens.Mask(g["binary_mask"]), mask.Binary!, $"{name} binary_mask");
        var soft = g["soft_sigma1"];
        AesMaskGoldens.AssertClose(soft.Values, mask.Soft, 5e-7, $"{name} soft_sigma1");
        // Engine semantics: token mask = fp32 soft > 0.5 (the file's token mask is the bf16-based one).
        AesMaskGoldens.AssertMaskEqual(Array.ConvertAll(soft.Values, v => v > 0.5f), mask.IsFocus, $"{name} token mask (fp32 soft)");
        AesMaskGoldens.AssertMaskEqual(AesMaskGoldens.Mask(g["token_mask_bf16"]), AesMaskGoldens.Bf16TokenMask(soft.Values), $"{name} token_mask_bf16 = bf16(soft) > 0.5");
    }
}
