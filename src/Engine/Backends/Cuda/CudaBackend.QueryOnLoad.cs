using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

// Issue 16, Fusion 15: Lumina's q LayerNormed across heads and rotated by the flash attention kernel as it loads the Q tile
// (attention.cu's q_stats parameters) instead of being written by qkv.cu and read back.
public sealed partial class CudaBackend
{
    /// <summary>
    /// Whether attention_inputs_layernorm_stats_bf16 takes these shapes: those of attention_inputs_layernorm_bf16 (one part, head
    /// width a multiple of 8) with every element index of the buffer within 32 bits. Shared with the counting rule.
    /// </summary>
    public static bool QueryOnLoadFits(int batch, int sequence, int heads, int kvHeads, int headDim) =>
        FusedAttentionInputsFit(1, headDim, QkNorm.LayerNormAcrossHeads) && (long)batch * sequence * (heads + 2L * kvHeads) * headDim <= int.MaxValue;

    /// <summary>
    /// One launch of <c>attention_inputs_layernorm_stats_bf16</c>: k normalised, rotated and written as
    /// <see cref="PrepareQueryKey"/> writes it, q's per-token (mean, rstd) by the same code, q itself not written. Other shapes run
    /// PrepareQueryKey and hand q back materialised (the attention ops then read it).
    /// </summary>
    public QueryOnLoadInputs PrepareKeyQueryStatistics(QkvPart part, int heads, int kvHeads, int headDim, float eps, Tensor? cos = null, Tensor? sin = null)
    {
        const string name = QueryOnLoadOp.PrepareName;
        var (batch, sequence) = QueryOnLoadOp.CheckPrepare(part, heads, kvHeads, headDim, cos, sin);
        var packed = new PackedQkv(part.Qkv, heads, kvHeads, headDim);
        if (!QueryOnLoadFits(batch, sequence, heads, kvHeads, headDim))
        {
            var (q, fallbackK, _) = PrepareQueryKey(part, heads, kvHeads, headDim, eps, cos, sin, QkNorm.LayerNormAcrossHeads);
            return new QueryOnLoadInputs(new QueryOnLoad(packed, null, part.NormQ!, part.NormQBias, cos, sin, eps, q), fallbackK);
        }
        using var op = Enter(name, part.Qkv, cos);
        var buffer = Bf16(Float(part.Qkv, name));
        var normK = part.NormK is { } nk ? Bf16(Float(nk, name)) : null;
        var biasK = part.NormKBias is { } bk ? Bf16(Float(bk, name)) : null;
        var cosTable = cos is null ? null : F32(Float(cos, name));
        var sinTable = sin is null ? null : F32(Float(sin, name));
        var stats = New(new Shape(batch, sequence, 2), DType.F32);
        var k = New(new Shape(batch, sequence, kvHeads, headDim), DType.BF16);
        if ((long)batch * sequence > 0)
            Launch("attention_inputs_layernorm_stats_bf16", (uint)(batch * sequence), 256, 0,
                buffer.Pointer, sequence, PointerOf(normK), PointerOf(biasK), PointerOf(cosTable), PointerOf(sinTable), cos is null ? 0 : cos.Shape[1],
                stats.Pointer, k.Pointer, heads, kvHeads, headDim, eps);
        return new QueryOnLoadInputs(new QueryOnLoad(packed, stats, part.NormQ!, part.NormQBias, cos, sin, eps), k);
    }

    /// <summary>
    /// <see cref="AttentionPackedValue"/> with q read raw from the buffer's q columns (row stride W) and normalised and rotated by
    /// the flash kernel as it loads each tile (split-KV included). Where the plan is the reference kernel (head widths above
    /// 128, or forced) q is materialised first by <see cref="PrepareQueryKey"/> and AttentionPackedValue runs: the same bits.
    /// </summary>
    public Tensor AttentionQueryOnLoad(QueryOnLoadInputs inputs, float scale)
    {
        const string name = QueryOnLoadOp.AttentionName;
        var (batch, sequence) = QueryOnLoadOp.Check(name, inputs.Query);
        var (_, h, hkv, d) = inputs.Packed;
        if (!LoadsQuery(inputs.Query, batch, sequence, h, d, sequence))
            return AttentionPackedValue(QueryOnLoadOp.Materialise(this, inputs.Query), inputs.K, inputs.Packed, scale);
        if (inputs.K.Shape != new Shape(batch, sequence, hkv, d))
            throw new ArgumentException($"{name}: k {inputs.K.Shape} is not [{batch}, {sequence}, {hkv}, {d}] (the buffer's tokens and key/value heads).");
        var (buffer, ck) = (Float(inputs.Packed.Buffer, name), Float(inputs.K, name));
        using var op = Enter(name, inputs.Packed.Buffer, inputs.K);
        var o = New(new Shape(batch, sequence, h, d), DType.BF16);
        if ((long)batch * sequence * h * d == 0)
            return o;
        var packed = Bf16(buffer).Pointer;
        int width = inputs.Packed.Width;
        LaunchStridedAttention(name, batch, sequence, sequence, h, hkv, d, scale, (packed, width), (Bf16(ck).Pointer, hkv * d),
            (packed + (ulong)(h + hkv) * (ulong)d * 2, width), o.Pointer, h * d, QueryNormOf(name, inputs.Query));
        return o;
    }

    /// <summary>
    /// <see cref="AttentionAddScaledInto"/> with q read raw from the buffer and normalised as the flash kernel loads it (the
    /// accumulate epilogue, split-KV included); the reference plan materialises q first.
    /// </summary>
    public void AttentionAddScaledIntoQueryOnLoad(Tensor destination, Tensor headScale, QueryOnLoad query, Tensor k, Tensor v, float scale, Tensor? keyMask = null)
    {
        const string name = QueryOnLoadOp.AccumulateName;
        QueryOnLoadOp.CheckAccumulate(destination, headScale, query, k, v);
        var (batch, sequence) = PackedQkvOp.Check(name, query.Packed);
        var (_, h, _, d) = query.Packed;
        int sk = k.Shape[1], hkv = k.Shape[2], dv = v.Shape[3];
        if (!LoadsQuery(query, batch, sequence, h, d, sk))
        {
            AttentionAddScaledInto(destination, headScale, QueryOnLoadOp.Materialise(this, query), k, v, scale, keyMask);
            return;
        }
        if (keyMask is not null && keyMask.Shape != new Shape(batch, sk))
            throw new ArgumentException($"{name}: key mask {keyMask.Shape} must be [{batch}, {sk}].");
        var cd = Own(destination);
        if (cd.DType != DType.BF16)
            throw new ArgumentException($"{name}: destination {destination.Shape} is {cd.DType}; attention writes bf16.");
        var (cs, buffer, ck, cv) = (Float(headScale, name), Float(query.Packed.Buffer, name), Float(k, name), Float(v, name));
        var cm = keyMask is null ? null : Float(keyMask, name);
        if (h > 65535 || batch > 65535)
            throw new NotSupportedException($"{name}: {batch} batches × {h} heads exceed the CUDA grid limits (65535 each).");
        using var op = Enter(name, query.Packed.Buffer, k, v);
        if ((long)batch * sequence * h * dv == 0)
            return;
        var plan = AttentionPlan.Create(batch, sequence, h, d, dv, Limits, ForceReferenceAttention, FlashAttentionVariant, sk, false, AttentionKvSplits);
        CuDevicePtr none = default;
        LaunchFlashAttention(plan, new FlashAttentionCall(Bf16(buffer).Pointer, Bf16(ck).Pointer, Bf16(cv).Pointer, cd.Pointer, none,
            PointerOf(cm is null ? null : F32(cm)), none, none, none, batch, sequence, sk, h, hkv, d, dv, scale, false, false, h * dv,
            F32(cs).Pointer, query.Packed.Width, hkv * d, hkv * dv, QueryNormOf(name, query)));
    }

    /// <summary>Whether the kernel applies q's norm: q not materialised and a flash plan (attention_ref.cu does not take it).</summary>
    private bool LoadsQuery(QueryOnLoad query, int batch, int sequence, int heads, int headDim, int keys) =>
        query.Materialised is null
        && AttentionPlan.Create(batch, sequence, heads, headDim, headDim, Limits, ForceReferenceAttention, FlashAttentionVariant, keys, false, AttentionKvSplits).Kernel
            == AttentionKernel.Flash;

    /// <summary>attention.cu's q_stats parameters: statistics and tables as fp32, norm weight and bias as bf16.</summary>
    private FlashQueryNorm QueryNormOf(string name, QueryOnLoad query) => new(
        F32(Float(query.Statistics!, name)).Pointer, Bf16(Float(query.Weight, name)).Pointer,
        PointerOf(query.Bias is { } b ? Bf16(Float(b, name)) : null),
        PointerOf(query.Cos is { } c ? F32(Float(c, name)) : null), PointerOf(query.Sin is { } s ? F32(Float(s, name)) : null),
        query.Cos?.Shape[1] ?? 0);
}
