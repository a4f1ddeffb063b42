namespace AccelAes.Engine.Tensors;

/// <summary>
/// One stream's fused Q/K/V projection for <see cref="IBackend.PrepareAttentionInputs"/>: <paramref name="Qkv"/> [B, n, (H + 2·Hkv)·hd]
/// holds, per token, the H query heads, then the Hkv key heads, then the Hkv value heads (the output of one GEMM over the
/// row-concatenated weights [W_q; W_k; W_v]). <paramref name="NormQ"/> / <paramref name="NormK"/> [hd]: this stream's per-head
/// RMSNorm weights of q and k (null: that projection is not normalised).
/// </summary>
public sealed record QkvPart(Tensor Qkv, Tensor? NormQ = null, Tensor? NormK = null);

/// <summary>What <see cref="IBackend.PrepareAttentionInputs"/> returns: q [B, S, H, hd], k and v [B, S, Hkv, hd], the layout <see cref="IBackend.Attention"/> reads.</summary>
public sealed record AttentionInputs(Tensor Q, Tensor K, Tensor V);

/// <summary>
/// The shape checks of <see cref="IBackend.PrepareAttentionInputs"/>, one wording for every backend (programming errors of a
/// model, not user input), and the op's definition as a composition of older ops (the CPU reference; the CUDA backend's
/// fallback for shapes its kernel does not take).
/// </summary>
public static class AttentionInputsOp
{
    public const string Name = "PrepareAttentionInputs";

    /// <summary>Checks the arguments; returns the batch and the joint sequence length S = Σ nᵢ.</summary>
    public static (int Batch, int Sequence) Check(IReadOnlyList<QkvPart> parts, int heads, int kvHeads, int headDim, Tensor? cos, Tensor? sin)
    {
        if (parts.Count == 0) throw new ArgumentException($"{Name}: no parts.");
        if (heads <= 0 || kvHeads <= 0 || headDim <= 0 || heads % kvHeads != 0)
            throw new ArgumentException($"{Name}: {heads} query heads, {kvHeads} key/value heads of width {headDim} are not a head layout.");
        long width = (long)(heads + 2 * kvHeads) * headDim;
        int batch = parts[0].Qkv.Shape.Rank == 3 ? parts[0].Qkv.Shape[0] : -1;
        long sequence = 0;
        foreach (var part in parts)
        {
            var s = part.Qkv.Shape;
            if (s.Rank != 3 || s[0] != batch || s[2] != width)
                throw new ArgumentException($"{Name}: part {s} is not [{batch}, n, {width}] ((H + 2·Hkv)·hd with H {heads}, Hkv {kvHeads}, hd {headDim}).");
            sequence += s[1];
            foreach (var (norm, what) in new[] { (part.NormQ, "q"), (part.NormK, "k") })
                if (norm is not null && (norm.Shape.Rank != 1 || norm.Shape[0] != headDim))
                    throw new ArgumentException($"{Name}: the {what} norm weight {norm.Shape} is not [{headDim}].");
        }
        if (sequence > int.MaxValue) throw new ArgumentException($"{Name}: {sequence} tokens in all.");
        if ((cos is null) != (sin is null)) throw new ArgumentException($"{Name}: cos and sin come together.");
        if (cos is not null && (cos.Shape.Rank != 2 || cos.Shape != sin!.Shape || cos.Shape[0] != sequence || 2 * cos.Shape[1] > headDim))
            throw new ArgumentException($"{Name}: rotary tables {cos.Shape} / {sin!.Shape} do not fit {sequence} tokens of head width {headDim} (need [{sequence}, ≤{headDim / 2}]).");
        return (batch, (int)sequence);
    }

    /// <summary>
    /// The op as the separate passes it replaces: per part, the column slices of q, k and v split into heads and q/k
    /// RMS-normalised (eps <paramref name="eps"/>) with the part's weights; the parts joined along the sequence; RoPE
    /// (adjacent pairs) on the joined q and k. On an fp32 backend this is the reference: no rounding in between.
    /// </summary>
    public static AttentionInputs Compose(IBackend be, IReadOnlyList<QkvPart> parts, int heads, int kvHeads, int headDim, float eps, Tensor? cos, Tensor? sin)
    {
        Check(parts, heads, kvHeads, headDim, cos, sin);
        var qs = new Tensor[parts.Count];
        var ks = new Tensor[parts.Count];
        var vs = new Tensor[parts.Count];
        for (int i = 0; i < parts.Count; i++)
        {
            var (qkv, normQ, normK) = parts[i];
            int b = qkv.Shape[0], n = qkv.Shape[1];
            qs[i] = Heads(be, be.Slice(qkv, 2, 0, heads * headDim).Reshape(b, n, heads, headDim), eps, normQ);
            ks[i] = Heads(be, be.Slice(qkv, 2, heads * headDim, kvHeads * headDim).Reshape(b, n, kvHeads, headDim), eps, normK);
            vs[i] = be.Slice(qkv, 2, (heads + kvHeads) * headDim, kvHeads * headDim).Reshape(b, n, kvHeads, headDim);
        }
        Tensor q = Join(be, qs), k = Join(be, ks), v = Join(be, vs);
        if (cos is not null)
        {
            q = be.Rotary(q, cos, sin!, RotaryPairing.Adjacent);
            k = be.Rotary(k, cos, sin!, RotaryPairing.Adjacent);
        }
        return new AttentionInputs(q, k, v);
    }

    private static Tensor Heads(IBackend be, Tensor x, float eps, Tensor? norm) => norm is null ? x : be.RmsNorm(x, eps, norm);

    private static Tensor Join(IBackend be, Tensor[] parts) => parts.Length == 1 ? parts[0] : be.Concat(1, parts);
}
