namespace AccelAes.Engine.Tensors;

/// <summary>
/// What <see cref="IBackend.PrepareQueryKey"/> returns (issue 16, Fusion 13): q [B, S, H, hd] and k [B, S, Hkv, hd] as
/// contiguous tensors — the layout every attention op, a sparse step's row gather and RAS's key cache read — and v left in
/// the fused Q/K/V GEMM's output <paramref name="Packed"/>, where <see cref="IBackend.AttentionPackedValue"/> reads it with
/// the buffer's row stride. Nothing copies v unless a path needs it as a tensor (<see cref="Value"/>).
/// </summary>
public sealed record PackedValueInputs(Tensor Q, Tensor K, PackedQkv Packed)
{
    /// <summary>v [B, S, Hkv, hd] as a tensor of its own (a copy of the buffer's value columns): for a path that keeps it (RAS's cache).</summary>
    public Tensor Value() => PackedValueOp.Value(Packed.Buffer.Backend, Packed);
}

/// <summary>The checks of the packed-value ops (Fusion 13), one wording for every backend, and their definitions by older ops.</summary>
public static class PackedValueOp
{
    public const string PrepareName = "PrepareQueryKey";
    public const string AttentionName = "AttentionPackedValue";

    /// <summary>The buffer's value columns [(H + Hkv)·hd, W) as a contiguous v [B, S, Hkv, hd] (one column-slice copy).</summary>
    public static Tensor Value(IBackend be, PackedQkv qkv)
    {
        var (batch, sequence) = PackedQkvOp.Check("Value", qkv);
        var (buffer, heads, kvHeads, headDim) = qkv;
        return be.Slice(buffer, 2, (heads + kvHeads) * headDim, kvHeads * headDim).Reshape(batch, sequence, kvHeads, headDim);
    }

    /// <summary>
    /// Checks <see cref="IBackend.AttentionPackedValue"/>: the buffer's layout (<see cref="PackedQkvOp.Check"/>), q [B, Sq, H, hd]
    /// with any Sq (a sparse step's focus rows), k [B, S, Hkv, hd] with the buffer's B and S and its head layout. Returns B, Sq, S.
    /// </summary>
    public static (int Batch, int QueryRows, int Sequence) CheckAttention(Tensor q, Tensor k, PackedQkv qkv)
    {
        const string op = AttentionName;
        var (batch, sequence) = PackedQkvOp.Check(op, qkv);
        if (q.Shape.Rank != 4 || q.Shape[0] != batch || q.Shape[2] != qkv.Heads || q.Shape[3] != qkv.HeadDim)
            throw new ArgumentException($"{op}: q {q.Shape} is not [{batch}, Sq, {qkv.Heads}, {qkv.HeadDim}] (the buffer's batch and query heads).");
        if (k.Shape != new Shape(batch, sequence, qkv.KvHeads, qkv.HeadDim))
            throw new ArgumentException($"{op}: k {k.Shape} is not [{batch}, {sequence}, {qkv.KvHeads}, {qkv.HeadDim}] (the buffer's tokens and key/value heads).");
        return (batch, q.Shape[1], sequence);
    }
}
