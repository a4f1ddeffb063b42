using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Counting;

// The counting rules of Fusion 15 (issue 16: Lumina's q normalised and rotated as the attention loads it, never written),
// kept apart from CountingBackend.Rules.cs so the kernel workers' rules merge without conflicts; same conventions.
public sealed partial class CountingBackend
{
    /// <summary>
    /// CudaBackend.PrepareKeyQueryStatistics: one attention_inputs_layernorm_stats_bf16 launch reading the q and k columns of the
    /// buffer (2·B·S·(H + Hkv)·hd bytes, q's re-read for the variance coming from L1/L2), k's norm weight and bias and the fp32
    /// tables, writing k and q's statistics (8 bytes per token); q is not written. Shapes the kernel does not take run
    /// <see cref="PrepareQueryKey"/> (counted as that) and hand q back materialised.
    /// </summary>
    public QueryOnLoadInputs PrepareKeyQueryStatistics(QkvPart part, int heads, int kvHeads, int headDim, float eps, Tensor? cos = null, Tensor? sin = null)
    {
        const string op = QueryOnLoadOp.PrepareName;
        var (batch, sequence) = QueryOnLoadOp.CheckPrepare(part, heads, kvHeads, headDim, cos, sin);
        var packed = new PackedQkv(part.Qkv, heads, kvHeads, headDim);
        if (!CudaBackend.QueryOnLoadFits(batch, sequence, heads, kvHeads, headDim))
        {
            var (q, fallbackK, _) = PrepareQueryKey(part, heads, kvHeads, headDim, eps, cos, sin, QkNorm.LayerNormAcrossHeads);
            return new QueryOnLoadInputs(new QueryOnLoad(packed, null, part.NormQ!, part.NormQBias, cos, sin, eps, q), fallbackK);
        }
        var (cx, nq, nk, bq, bk) = (C(part.Qkv, op), C(part.NormQ!, op), Optional(part.NormK, op), Optional(part.NormQBias, op), Optional(part.NormKBias, op));
        foreach (var t in new[] { cx, nq, nk, bq, bk }) ToBf16(op, t);
        long qkColumns = 2L * batch * sequence * (heads + kvHeads) * headDim;
        long read = qkColumns + Bf16Bytes(nk) + Bf16Bytes(bk) + TableBytes(op, cos, sin);
        var stats = New(new Shape(batch, sequence, 2), DType.F32, op);
        var k = New(new Shape(batch, sequence, kvHeads, headDim), DType.BF16, op);
        Kernel(op, "attention_inputs_layernorm_stats_bf16", (long)batch * sequence, read, 2L * k.ElementCount + 4L * stats.ElementCount);
        return new QueryOnLoadInputs(new QueryOnLoad(packed, stats, part.NormQ!, part.NormQBias, cos, sin, eps), k);
    }

    /// <summary>
    /// CudaBackend.AttentionQueryOnLoad: <see cref="AttentionPackedValue"/>'s launch reading q's raw columns in place (the bytes q
    /// had) plus its statistics, its norm weight and bias and the tables once; where the plan is the reference kernel q is
    /// materialised first (<see cref="PrepareQueryKey"/>) and AttentionPackedValue runs.
    /// </summary>
    public Tensor AttentionQueryOnLoad(QueryOnLoadInputs inputs, float scale)
    {
        const string op = QueryOnLoadOp.AttentionName;
        var (batch, sequence) = QueryOnLoadOp.Check(op, inputs.Query);
        var (_, h, hkv, d) = inputs.Packed;
        if (!LoadsQuery(inputs.Query, batch, sequence, h, d))
            return AttentionPackedValue(QueryOnLoadOp.Materialise(this, inputs.Query), inputs.K, inputs.Packed, scale);
        C(inputs.Packed.Buffer, op);
        C(inputs.K, op);
        var o = New(new Shape(batch, sequence, h, d), DType.BF16, op);
        if ((long)batch * sequence * h == 0) return o;
        long read = 2L * batch * sequence * h * d + Bf16Bytes(inputs.K) + 2L * batch * sequence * hkv * d + QueryNormBytes(op, inputs.Query);
        CountFlashAttention(op, read, 2L * batch * sequence * h * d, 0, 0, 2.0 * batch * h * sequence * sequence * (2L * d), batch, sequence, sequence, h, d, d,
            causal: false, withAffinity: false);
        return o;
    }

    /// <summary>
    /// CudaBackend.AttentionAddScaledIntoQueryOnLoad: <see cref="AttentionAddScaledInto"/>'s launch with q's raw columns read in
    /// place plus its statistics, norm weight and bias and tables (the reference kernel: q materialised first).
    /// </summary>
    public void AttentionAddScaledIntoQueryOnLoad(Tensor destination, Tensor headScale, QueryOnLoad query, Tensor k, Tensor v, float scale, Tensor? keyMask = null)
    {
        const string op = QueryOnLoadOp.AccumulateName;
        var (batch, sequence) = QueryOnLoadOp.Check(op, query);
        var (_, h, _, d) = query.Packed;
        if (!LoadsQuery(query, batch, sequence, h, d))
        {
            AttentionAddScaledInto(destination, headScale, QueryOnLoadOp.Materialise(this, query), k, v, scale, keyMask);
            return;
        }
        var (cd, cs, ck, cv, cm) = (C(destination, op), C(headScale, op), C(k, op), C(v, op), Optional(keyMask, op));
        QueryOnLoadOp.CheckAccumulate(destination, headScale, query, k, v);
        if (cd.ElementCount == 0) return;
        ToF32(op, cs);
        ToBf16(op, ck);
        ToBf16(op, cv);
        ToF32(op, cm);
        int sk = k.Shape[1], dv = v.Shape[3];
        long read = 2L * batch * sequence * h * d + Bf16Bytes(k) + Bf16Bytes(v) + F32Bytes(cm) + QueryNormBytes(op, query);
        CountFlashAttention(op, read, 2L * batch * sequence * h * dv, 0, Bf16Bytes(cd) + F32Bytes(cs), 2.0 * batch * h * sequence * sk * (d + dv),
            batch, sequence, sk, h, d, dv, causal: false, withAffinity: false);
    }

    /// <summary>Whether the CUDA backend applies q's norm in the attention kernel (a flash plan, q not materialised).</summary>
    private bool LoadsQuery(QueryOnLoad query, int batch, int sequence, int heads, int headDim) =>
        query.Materialised is null && AttentionPlan.Create(batch, sequence, heads, headDim, headDim, PlannedDevice, sk: sequence).Kernel == AttentionKernel.Flash;

    /// <summary>The fp32 statistics, the bf16 norm weight and bias and the fp32 tables, each read once.</summary>
    private long QueryNormBytes(string op, QueryOnLoad query)
    {
        var (cs, cw, cb) = (C(query.Statistics!, op), C(query.Weight, op), Optional(query.Bias, op));
        ToF32(op, cs);
        ToBf16(op, cw);
        ToBf16(op, cb);
        return F32Bytes(cs) + Bf16Bytes(cw) + Bf16Bytes(cb) + TableBytes(op, query.Cos, query.Sin);
    }
}
