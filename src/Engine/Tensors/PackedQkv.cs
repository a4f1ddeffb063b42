namespace AccelAes.Engine.Tensors;

/// <summary>
/// A packed QKV buffer [B, S, (H + 2·Hkv)·hd] (issue 16, Fusion 7): per token the <paramref name="Heads"/> query heads, then
/// the <paramref name="KvHeads"/> key heads, then the value heads, each <paramref name="HeadDim"/> wide — the layout a fused
/// Q/K/V GEMM writes (<see cref="QkvPart"/>), with every stream's rows joined along S by <see cref="IBackend.LinearIntoRows"/>.
/// <see cref="IBackend.AttentionPacked"/> reads q, k and v where they are (column slices with row stride W), so a model
/// without qk-norm and RoPE (SD3-Medium) copies nothing between its QKV GEMMs and attention.
/// </summary>
public sealed record PackedQkv(Tensor Buffer, int Heads, int KvHeads, int HeadDim)
{
    /// <summary>Elements per token: (H + 2·Hkv)·hd.</summary>
    public int Width => (Heads + 2 * KvHeads) * HeadDim;
}

/// <summary>
/// One part (stream) of a packed buffer for <see cref="IBackend.PrepareAttentionInputsInPlace"/>: its <paramref name="Tokens"/>
/// rows (the parts follow each other along S, per batch item) and its per-head RMSNorm weights [hd] of q and k (null: not normalised).
/// </summary>
public sealed record QkvPartNorms(int Tokens, Tensor? NormQ = null, Tensor? NormK = null);

/// <summary>The checks of the packed-QKV ops, one wording for every backend, and their definitions by older ops (the CPU reference).</summary>
public static class PackedQkvOp
{
    /// <summary>Checks the layout: a rank-3 buffer whose last dimension is (H + 2·Hkv)·hd, Hkv dividing H.</summary>
    public static (int Batch, int Sequence) Check(string op, PackedQkv qkv)
    {
        var (buffer, heads, kvHeads, headDim) = qkv;
        if (heads <= 0 || kvHeads <= 0 || headDim <= 0 || heads % kvHeads != 0)
            throw new ArgumentException($"{op}: {heads} query heads, {kvHeads} key/value heads of width {headDim} are not a head layout.");
        if (buffer.Shape.Rank != 3 || buffer.Shape[2] != (long)(heads + 2 * kvHeads) * headDim)
            throw new ArgumentException($"{op}: buffer {buffer.Shape} is not [B, S, {(long)(heads + 2 * kvHeads) * headDim}] ((H + 2·Hkv)·hd with H {heads}, Hkv {kvHeads}, hd {headDim}).");
        return (buffer.Shape[0], buffer.Shape[1]);
    }

    /// <summary>
    /// Checks <see cref="IBackend.LinearIntoRows"/>: destination [B, S, N] with N the weight's rows (whole rows are written),
    /// x [B, n, K] with the destination's batch, rows [rowOffset, rowOffset + n) inside S.
    /// </summary>
    public static void CheckRows(string op, Tensor destination, int rowOffset, Tensor x, Tensor weight)
    {
        if (destination.Shape.Rank != 3 || x.Shape.Rank != 3 || weight.Shape.Rank != 2)
            throw new ArgumentException($"{op}: destination {destination.Shape} and x {x.Shape} must be [B, S, N] and [B, n, K], weight {weight.Shape} [N, K].");
        if (x.Shape[0] != destination.Shape[0] || destination.Shape[2] != weight.Shape[0] || x.Shape[2] != weight.Shape[1])
            throw new ArgumentException($"{op}: x {x.Shape} · weight {weight.Shape}ᵀ does not fill whole rows of destination {destination.Shape}.");
        if (rowOffset < 0 || (long)rowOffset + x.Shape[1] > destination.Shape[1])
            throw new ArgumentException($"{op}: rows [{rowOffset}, {(long)rowOffset + x.Shape[1]}) do not fit the {destination.Shape[1]} rows of destination {destination.Shape}.");
    }

    /// <summary>
    /// Checks <see cref="IBackend.PrepareAttentionInputsInPlace"/> with <see cref="AttentionInputsOp.Check"/>'s words: the parts'
    /// tokens add up to S; returns the parts as <see cref="QkvPart"/>s over the buffer's row slices (the op's definition:
    /// <see cref="AttentionInputsOp.Compose"/> of them, q and k written back into their columns).
    /// </summary>
    public static QkvPart[] Parts(IBackend be, PackedQkv qkv, IReadOnlyList<QkvPartNorms> parts, Tensor? cos, Tensor? sin, bool slice)
    {
        const string op = "PrepareAttentionInputsInPlace";
        var (batch, sequence) = Check(op, qkv);
        if (parts.Count == 0 || parts.Any(p => p.Tokens < 0) || parts.Sum(p => (long)p.Tokens) != sequence)
            throw new ArgumentException($"{op}: parts of {string.Join(" + ", parts.Select(p => p.Tokens))} tokens do not make the buffer's {sequence}.");
        var result = new QkvPart[parts.Count];
        int start = 0;
        for (int i = 0; i < parts.Count; i++)
        {
            var rows = slice ? be.Slice(qkv.Buffer, 1, start, parts[i].Tokens) : qkv.Buffer;
            result[i] = new QkvPart(rows, parts[i].NormQ, parts[i].NormK);
            start += parts[i].Tokens;
        }
        if (slice) AttentionInputsOp.Check(result, qkv.Heads, qkv.KvHeads, qkv.HeadDim, cos, sin);
        else CheckNorms(op, qkv, parts, cos, sin, sequence);
        return result;
    }

    /// <summary>The norm and table checks of <see cref="AttentionInputsOp.Check"/> without slicing the buffer (the device path).</summary>
    private static void CheckNorms(string op, PackedQkv qkv, IReadOnlyList<QkvPartNorms> parts, Tensor? cos, Tensor? sin, int sequence)
    {
        foreach (var part in parts)
            foreach (var (vector, what) in new[] { (part.NormQ, "q norm weight"), (part.NormK, "k norm weight") })
                if (vector is not null && (vector.Shape.Rank != 1 || vector.Shape[0] != qkv.HeadDim))
                    throw new ArgumentException($"{op}: the {what} {vector.Shape} is not [{qkv.HeadDim}].");
        if ((cos is null) != (sin is null)) throw new ArgumentException($"{op}: cos and sin come together.");
        if (cos is not null && (cos.Shape.Rank != 2 || cos.Shape != sin!.Shape || cos.Shape[0] != sequence || 2 * cos.Shape[1] > qkv.HeadDim))
            throw new ArgumentException($"{op}: rotary tables {cos.Shape} / {sin!.Shape} do not fit {sequence} tokens of head width {qkv.HeadDim} (need [{sequence}, ≤{qkv.HeadDim / 2}]).");
    }

    /// <summary>The contiguous q [B, S, H, hd], k and v [B, S, Hkv, hd] of a packed buffer: column slices (copies) split into heads.</summary>
    public static AttentionInputs Unpack(IBackend be, PackedQkv qkv)
    {
        var (batch, sequence) = Check("Unpack", qkv);
        var (buffer, heads, kvHeads, headDim) = qkv;
        return new AttentionInputs(
            be.Slice(buffer, 2, 0, heads * headDim).Reshape(batch, sequence, heads, headDim),
            be.Slice(buffer, 2, heads * headDim, kvHeads * headDim).Reshape(batch, sequence, kvHeads, headDim),
            be.Slice(buffer, 2, (heads + kvHeads) * headDim, kvHeads * headDim).Reshape(batch, sequence, kvHeads, headDim));
    }
}
