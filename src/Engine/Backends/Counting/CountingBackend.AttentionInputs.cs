using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Counting;

// The counting rule of the QKV path's fused op (issue 16), kept apart from CountingBackend.Rules.cs so the kernel workers'
// rules merge without conflicts; same conventions.
public sealed partial class CountingBackend
{
    /// <summary>
    /// attention_inputs_bf16 or attention_inputs_layernorm_bf16 (CudaBackend.AttentionInputs.cs): one launch that reads every
    /// part once (bf16; an F32 part is converted first), the norm weights (and biases) and the fp32 rotary tables once (bf16 tables widened first), and writes q, k and v
    /// once. Shapes the kernel does not take (more than two parts, a head width that is not a multiple of 8 or above 256)
    /// run the separate passes, counted as those ops.
    /// </summary>
    public AttentionInputs PrepareAttentionInputs(IReadOnlyList<QkvPart> parts, int heads, int kvHeads, int headDim, float eps, Tensor? cos = null, Tensor? sin = null,
        QkNorm norm = QkNorm.RmsPerHead)
    {
        const string op = AttentionInputsOp.Name;
        var (batch, sequence) = AttentionInputsOp.Check(parts, heads, kvHeads, headDim, cos, sin, norm);
        if (!CudaBackend.FusedAttentionInputsFit(parts.Count, headDim, norm))
            return AttentionInputsOp.Compose(this, parts, heads, kvHeads, headDim, eps, cos, sin, norm);
        long read = 0;
        foreach (var part in parts)
        {
            var (cx, nq, nk, bq, bk) = (C(part.Qkv, op), Optional(part.NormQ, op), Optional(part.NormK, op), Optional(part.NormQBias, op), Optional(part.NormKBias, op));
            foreach (var t in new[] { cx, nq, nk, bq, bk }) ToBf16(op, t);
            read += 2L * cx.ElementCount + Bf16Bytes(nq) + Bf16Bytes(nk) + Bf16Bytes(bq) + Bf16Bytes(bk);
        }
        if (cos is not null)
        {
            var (cc, cs) = (C(cos, op), C(sin!, op));
            ToF32(op, cc);
            ToF32(op, cs);
            read += F32Bytes(cc) + F32Bytes(cs);
        }
        var q = New(new Shape(batch, sequence, heads, headDim), DType.BF16, op);
        var k = New(new Shape(batch, sequence, kvHeads, headDim), DType.BF16, op);
        var v = New(new Shape(batch, sequence, kvHeads, headDim), DType.BF16, op);
        long written = 2L * (q.ElementCount + k.ElementCount + v.ElementCount);
        Kernel(op, norm == QkNorm.LayerNormAcrossHeads ? "attention_inputs_layernorm_bf16" : "attention_inputs_bf16", written / 2, read, written);
        return new AttentionInputs(q, k, v);
    }
}
