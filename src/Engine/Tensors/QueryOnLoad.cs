namespace AccelAes.Engine.Tensors;

/// <summary>
/// A query that is never written (issue 16, Fusion 15): Lumina's q as the raw q columns [0, H·hd) of the fused Q/K/V GEMM
/// output <paramref name="Packed"/>, plus what turns it into the q <see cref="IBackend.PrepareQueryKey"/> would have written —
/// LayerNorm across heads with the per-token <paramref name="Statistics"/> [B, S, 2] fp32 (mean, rstd), the norm
/// <paramref name="Weight"/> and <paramref name="Bias"/> [H·hd], then RoPE with the fp32 tables <paramref name="Cos"/> /
/// <paramref name="Sin"/> [S, P]. A device's attention kernel applies this to each Q tile as it loads it; the reference
/// materialises q (<see cref="QueryOnLoadOp.Materialise"/>). <paramref name="Materialised"/> is set instead of the
/// statistics where a backend computed q as a tensor after all (shapes its kernels do not take): the attention then reads it.
/// </summary>
public sealed record QueryOnLoad(PackedQkv Packed, Tensor? Statistics, Tensor Weight, Tensor? Bias, Tensor? Cos, Tensor? Sin, float Eps,
    Tensor? Materialised = null);

/// <summary>What <see cref="IBackend.PrepareKeyQueryStatistics"/> returns: the query left in the buffer, k [B, S, Hkv, hd] written.</summary>
public sealed record QueryOnLoadInputs(QueryOnLoad Query, Tensor K)
{
    /// <summary>The fused Q/K/V GEMM output: the raw q's and the values' columns.</summary>
    public PackedQkv Packed => Query.Packed;
}

/// <summary>The checks of the query-on-load ops (Fusion 15), one wording for every backend, and their definitions by older ops.</summary>
public static class QueryOnLoadOp
{
    public const string PrepareName = "PrepareKeyQueryStatistics";
    public const string AttentionName = "AttentionQueryOnLoad";
    public const string AccumulateName = "AttentionAddScaledIntoQueryOnLoad";

    /// <summary>
    /// Checks <see cref="IBackend.PrepareKeyQueryStatistics"/>: PrepareQueryKey's shapes with a LayerNorm across heads whose q
    /// weight is given (the statistics are those of that norm). Returns B and S.
    /// </summary>
    public static (int Batch, int Sequence) CheckPrepare(QkvPart part, int heads, int kvHeads, int headDim, Tensor? cos, Tensor? sin)
    {
        if (part.NormQ is null)
            throw new ArgumentException($"{PrepareName}: q's LayerNorm weight is missing; a query without a norm needs no statistics.");
        return AttentionInputsOp.Check([part], heads, kvHeads, headDim, cos, sin, QkNorm.LayerNormAcrossHeads);
    }

    /// <summary>Checks a query's parts against its buffer: statistics [B, S, 2], weight and bias [H·hd], tables [S, P ≤ hd/2].</summary>
    public static (int Batch, int Sequence) Check(string op, QueryOnLoad query)
    {
        var (batch, sequence) = PackedQkvOp.Check(op, query.Packed);
        int width = query.Packed.Heads * query.Packed.HeadDim;
        if (query.Materialised is { } q)
        {
            if (q.Shape != new Shape(batch, sequence, query.Packed.Heads, query.Packed.HeadDim))
                throw new ArgumentException($"{op}: materialised q {q.Shape} is not [{batch}, {sequence}, {query.Packed.Heads}, {query.Packed.HeadDim}].");
        }
        else if (query.Statistics is not { } stats || stats.Shape != new Shape(batch, sequence, 2))
            throw new ArgumentException($"{op}: q's statistics {query.Statistics?.Shape.ToString() ?? "(none)"} are not [{batch}, {sequence}, 2] (mean, rstd per token).");
        if (query.Weight.Shape != new Shape(width) || (query.Bias is { } b && b.Shape != new Shape(width)))
            throw new ArgumentException($"{op}: q's norm weight {query.Weight.Shape} / bias {query.Bias?.Shape.ToString() ?? "(none)"} are not [{width}] (H·hd).");
        if ((query.Cos is null) != (query.Sin is null))
            throw new ArgumentException($"{op}: q's rotary tables come as a pair (cos and sin).");
        if (query.Cos is { } cos && (cos.Shape.Rank != 2 || cos.Shape[0] != sequence || 2 * cos.Shape[1] > query.Packed.HeadDim || query.Sin!.Shape != cos.Shape))
            throw new ArgumentException($"{op}: q's rotary tables {cos.Shape} / {query.Sin!.Shape} are not [{sequence}, P ≤ {query.Packed.HeadDim / 2}].");
        return (batch, sequence);
    }

    /// <summary>
    /// Checks <see cref="IBackend.AttentionAddScaledIntoQueryOnLoad"/>: the query (<see cref="Check"/>), k [B, Sk, Hkv', hd] and
    /// v [B, Sk, Hkv', Dv] with the query's batch and head width (Hkv' dividing H), destination [B, S, H, Dv], head scale [H].
    /// </summary>
    public static void CheckAccumulate(Tensor destination, Tensor headScale, QueryOnLoad query, Tensor k, Tensor v)
    {
        const string op = AccumulateName;
        var (batch, sequence) = Check(op, query);
        var (_, heads, _, headDim) = query.Packed;
        if (k.Shape.Rank != 4 || v.Shape.Rank != 4 || k.Shape[0] != batch || v.Shape[0] != batch || k.Shape[3] != headDim
            || v.Shape[1] != k.Shape[1] || v.Shape[2] != k.Shape[2] || k.Shape[2] == 0 || heads % k.Shape[2] != 0)
            throw new ArgumentException($"{op}: k {k.Shape} and v {v.Shape} do not fit the query [{batch}, {sequence}, {heads}, {headDim}].");
        var output = new Shape(batch, sequence, heads, v.Shape[3]);
        if (destination.Shape != output)
            throw new ArgumentException($"{op}: destination {destination.Shape} must be the attention's output shape {output}.");
        if (headScale.Shape != new Shape(heads))
            throw new ArgumentException($"{op}: head scale {headScale.Shape} must be [{heads}], one factor per query head.");
    }

    /// <summary>
    /// q [B, S, H, hd] as <see cref="IBackend.PrepareQueryKey"/> computes it from the buffer (the reference's definition of the
    /// query; the statistics are recomputed by that op's math, not read).
    /// </summary>
    public static Tensor Materialise(IBackend be, QueryOnLoad query)
    {
        if (query.Materialised is { } q) return q;
        var (_, heads, kvHeads, headDim) = query.Packed;
        var part = new QkvPart(query.Packed.Buffer, query.Weight, NormK: null, query.Bias);
        return be.PrepareQueryKey(part, heads, kvHeads, headDim, query.Eps, query.Cos, query.Sin, QkNorm.LayerNormAcrossHeads).Q;
    }
}
