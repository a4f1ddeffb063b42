namespace AccelAes.Engine.Weights;

/// <summary>
/// Which tensors are Linear weight matrices — the ones fp8 quantisation applies to, and the memory plan shrinks under
/// <c>--weights fp8</c> (one rule for both, so the plan counts what loading does).
/// </summary>
public static class LinearWeightNames
{
    /// <summary>
    /// A 2-D "<c>.weight</c>" read by a matmul: every Linear of attention, feed-forward, modulation (AdaLayerNorm's
    /// <c>norm1.linear</c>), timestep / text / patch projections. Not quantised: biases, norm scales (1-D), convolutions
    /// (4-D: SD3's patch embedding), and embedding tables (gathered rows, not a matmul: T5's <c>shared</c> /
    /// <c>relative_attention_bias</c>, Gemma's <c>embed_tokens</c>, CLIP's <c>*embedding</c>).
    /// </summary>
    public static bool IsLinearWeight(string name, int rank) =>
        rank == 2 && name.EndsWith(".weight", StringComparison.Ordinal) && !name.Contains("embedding.", StringComparison.Ordinal)
        && !name.Contains("embed_tokens", StringComparison.Ordinal) && !name.Contains("shared", StringComparison.Ordinal)
        && !name.Contains("relative_attention_bias", StringComparison.Ordinal);
}
