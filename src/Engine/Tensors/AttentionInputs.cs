namespace AccelAes.Engine.Tensors;

/// <summary>
/// One stream's fused Q/K/V projection for <see cref="IBackend.PrepareAttentionInputs"/>: <paramref name="Qkv"/> [B, n, (H + 2·Hkv)·hd]
/// holds, per token, the H query heads, then the Hkv key heads, then the Hkv value heads (the output of one GEMM over the
/// row-concatenated weights [W_q; W_k; W_v]). <paramref name="NormQ"/> / <paramref name="NormK"/>: this stream's norm weights of
/// q and k (null: that projection is not normalised) — [hd] for <see cref="QkNorm.RmsPerHead"/>, [H·hd] / [Hkv·hd] for
/// <see cref="QkNorm.LayerNormAcrossHeads"/>, which also takes the biases <paramref name="NormQBias"/> / <paramref name="NormKBias"/>.
/// </summary>
public sealed record QkvPart(Tensor Qkv, Tensor? NormQ = null, Tensor? NormK = null, Tensor? NormQBias = null, Tensor? NormKBias = null);

/// <summary>Which normalisation <see cref="IBackend.PrepareAttentionInputs"/> applies to q and k.</summary>
public enum QkNorm
{
    /// <summary>RMSNorm over each head's hd features, weight [hd] (FLUX, SD3.5: <c>qk_norm="rms_norm"</c>).</summary>
    RmsPerHead,
    /// <summary>LayerNorm (biased variance, weight and bias) over the whole projected width, before the head split (Lumina: <c>"layer_norm_across_heads"</c>).</summary>
    LayerNormAcrossHeads,
}

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
    public static (int Batch, int Sequence) Check(IReadOnlyList<QkvPart> parts, int heads, int kvHeads, int headDim, Tensor? cos, Tensor? sin,
        QkNorm norm = QkNorm.RmsPerHead)
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
            bool across = norm == QkNorm.LayerNormAcrossHeads;
            foreach (var (vector, what, length) in new[]
                     {
                         (part.NormQ, "q norm weight", across ? heads * headDim : headDim), (part.NormK, "k norm weight", across ? kvHeads * headDim : headDim),
                         (part.NormQBias, "q norm bias", heads * headDim), (part.NormKBias, "k norm bias", kvHeads * headDim),
                     })
                if (vector is not null && (vector.Shape.Rank != 1 || vector.Shape[0] != length))
                    throw new ArgumentException($"{Name}: the {what} {vector.Shape} is not [{length}].");
            if (!across && (part.NormQBias ?? part.NormKBias) is not null)
                throw new ArgumentException($"{Name}: a per-head RMSNorm has no bias.");
            if ((part.NormQBias is not null && part.NormQ is null) || (part.NormKBias is not null && part.NormK is null))
                throw new ArgumentException($"{Name}: a norm bias needs its weight.");
        }
        if (sequence > int.MaxValue) throw new ArgumentException($"{Name}: {sequence} tokens in all.");
        if ((cos is null) != (sin is null)) throw new ArgumentException($"{Name}: cos and sin come together.");
        if (cos is not null && (cos.Shape.Rank != 2 || cos.Shape != sin!.Shape || cos.Shape[0] != sequence || 2 * cos.Shape[1] > headDim))
            throw new ArgumentException($"{Name}: rotary tables {cos.Shape} / {sin!.Shape} do not fit {sequence} tokens of head width {headDim} (need [{sequence}, ≤{headDim / 2}]).");
        return (batch, (int)sequence);
    }

    /// <summary>
    /// The op as the separate passes it replaces: per part, the column slices of q, k and v split into heads and q/k
    /// normalised (eps <paramref name="eps"/>) with the part's weights — per head (RMSNorm) or over the whole width before
    /// the split (LayerNorm); the parts joined along the sequence; RoPE (adjacent pairs) on the joined q and k. On an fp32
    /// backend this is the reference: no rounding in between.
    /// </summary>
    public static AttentionInputs Compose(IBackend be, IReadOnlyList<QkvPart> parts, int heads, int kvHeads, int headDim, float eps, Tensor? cos, Tensor? sin,
        QkNorm norm = QkNorm.RmsPerHead)
    {
        Check(parts, heads, kvHeads, headDim, cos, sin, norm);
        var qs = new Tensor[parts.Count];
        var ks = new Tensor[parts.Count];
        var vs = new Tensor[parts.Count];
        for (int i = 0; i < parts.Count; i++)
        {
            var (qkv, normQ, normK, biasQ, biasK) = parts[i];
            int b = qkv.Shape[0], n = qkv.Shape[1];
            qs[i] = Heads(be, be.Slice(qkv, 2, 0, heads * headDim), heads, headDim, eps, norm, normQ, biasQ);
            ks[i] = Heads(be, be.Slice(qkv, 2, heads * headDim, kvHeads * headDim), kvHeads, headDim, eps, norm, normK, biasK);
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

    private static Tensor Heads(IBackend be, Tensor x, int heads, int headDim, float eps, QkNorm kind, Tensor? weight, Tensor? bias)
    {
        int b = x.Shape[0], n = x.Shape[1];
        if (weight is not null && kind == QkNorm.LayerNormAcrossHeads) x = be.LayerNorm(x, eps, weight, bias);
        x = x.Reshape(b, n, heads, headDim);
        return weight is not null && kind == QkNorm.RmsPerHead ? be.RmsNorm(x, eps, weight) : x;
    }

    private static Tensor Join(IBackend be, Tensor[] parts) => parts.Length == 1 ? parts[0] : be.Concat(1, parts);
}
