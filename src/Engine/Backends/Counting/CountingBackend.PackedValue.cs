using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Counting;

// The counting rules of Fusion 13 (issue 16: Lumina's self-attention reads v where the fused Q/K/V GEMM wrote it), kept
// apart from CountingBackend.Rules.cs so the kernel workers' rules merge without conflicts; same conventions.
public sealed partial class CountingBackend
{
    /// <summary>
    /// CudaBackend.PrepareQueryKey: <see cref="PrepareAttentionInputs"/>'s launch (attention_inputs_layernorm_bf16 or
    /// attention_inputs_bf16) with a null v: it reads only the q and k columns of the part (2·B·S·(H + Hkv)·hd bytes), the
    /// norm weights and biases and the fp32 tables once, and writes q and k; the value columns are neither read nor written.
    /// Shapes the kernels do not take run the separate passes, counted as those ops (v's slice included, as the device runs it).
    /// </summary>
    public PackedValueInputs PrepareQueryKey(QkvPart part, int heads, int kvHeads, int headDim, float eps, Tensor? cos = null, Tensor? sin = null,
        QkNorm norm = QkNorm.RmsPerHead)
    {
        const string op = PackedValueOp.PrepareName;
        var (batch, sequence) = AttentionInputsOp.Check([part], heads, kvHeads, headDim, cos, sin, norm);
        var packed = new PackedQkv(part.Qkv, heads, kvHeads, headDim);
        if (!CudaBackend.FusedAttentionInputsFit(1, headDim, norm))
        {
            var (cq, ck, _) = AttentionInputsOp.Compose(this, [part], heads, kvHeads, headDim, eps, cos, sin, norm);
            return new PackedValueInputs(cq, ck, packed);
        }
        ToBf16(op, C(part.Qkv, op));
        long qkColumns = 2L * batch * sequence * (heads + kvHeads) * headDim;
        long read = qkColumns + QkNormBytes(op, part) + TableBytes(op, cos, sin);
        var q = New(new Shape(batch, sequence, heads, headDim), DType.BF16, op);
        var k = New(new Shape(batch, sequence, kvHeads, headDim), DType.BF16, op);
        Kernel(op, norm == QkNorm.LayerNormAcrossHeads ? "attention_inputs_layernorm_bf16" : "attention_inputs_bf16", qkColumns / 2, read, qkColumns);
        return new PackedValueInputs(q, k, packed);
    }

    /// <summary>
    /// CudaBackend.AttentionPackedValue: <see cref="Attention"/>'s launch over q, k and the value columns read in place (row
    /// stride W): q, k and v's B·S·Hkv·hd elements read once (bf16), the output written once; no copy of v.
    /// </summary>
    public Tensor AttentionPackedValue(Tensor q, Tensor k, PackedQkv qkv, float scale)
    {
        const string op = PackedValueOp.AttentionName;
        var (batch, rows, sequence) = PackedValueOp.CheckAttention(q, k, qkv);
        var (cq, ck, cb) = (C(q, op), C(k, op), C(qkv.Buffer, op));
        var (h, hkv, d) = (qkv.Heads, qkv.KvHeads, qkv.HeadDim);
        var o = New(new Shape(batch, rows, h, d), DType.BF16, op);
        if ((long)batch * rows * h == 0) return o;
        ToBf16(op, cq);
        ToBf16(op, ck);
        ToBf16(op, cb);
        long read = Bf16Bytes(q) + Bf16Bytes(k) + 2L * batch * sequence * hkv * d;
        CountFlashAttention(op, read, 2L * batch * rows * h * d, 0, 0, 2.0 * batch * h * rows * sequence * (2L * d), batch, rows, sequence, h, d, d,
            causal: false, withAffinity: false);
        return o;
    }
}
