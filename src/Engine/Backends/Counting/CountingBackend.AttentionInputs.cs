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
            var cx = C(part.Qkv, op);
            ToBf16(op, cx);
            read += 2L * cx.ElementCount + QkNormBytes(op, part);
        }
        read += TableBytes(op, cos, sin);
        var q = New(new Shape(batch, sequence, heads, headDim), DType.BF16, op);
        var k = New(new Shape(batch, sequence, kvHeads, headDim), DType.BF16, op);
        var v = New(new Shape(batch, sequence, kvHeads, headDim), DType.BF16, op);
        long written = 2L * (q.ElementCount + k.ElementCount + v.ElementCount);
        Kernel(op, norm == QkNorm.LayerNormAcrossHeads ? "attention_inputs_layernorm_bf16" : "attention_inputs_bf16", written / 2, read, written);
        return new AttentionInputs(q, k, v);
    }

    /// <summary>The bytes a q/k preparation kernel reads of a part's norm weights and biases (bf16; converted first where not).</summary>
    private long QkNormBytes(string op, QkvPart part)
    {
        long bytes = 0;
        foreach (var t in new[] { part.NormQ, part.NormK, part.NormQBias, part.NormKBias })
        {
            var ct = Optional(t, op);
            ToBf16(op, ct);
            bytes += Bf16Bytes(ct);
        }
        return bytes;
    }

    /// <summary>The bytes a kernel reads of the rotary tables (fp32; bf16 tables widened first); 0 without RoPE.</summary>
    private long TableBytes(string op, Tensor? cos, Tensor? sin)
    {
        if (cos is null) return 0;
        var (cc, cs) = (C(cos, op), C(sin!, op));
        ToF32(op, cc);
        ToF32(op, cs);
        return F32Bytes(cc) + F32Bytes(cs);
    }

    /// <summary>
    /// CudaBackend.LinearOfRows: one GEMM per batch item over its rows (read in place: no copy), each reading its [count, K]
    /// rows and the weight (and bias), and writing its [count, N] block; operands converted to bf16 once.
    /// </summary>
    public Tensor LinearOfRows(Tensor x, int start, int count, Tensor weight, Tensor? bias)
    {
        const string op = "LinearOfRows";
        RowRange.Check(op, x, start, count);
        var (cx, cw, cb) = (C(x, op), C(weight, op), Optional(bias, op));
        if (weight.Shape.Rank != 2 || x.Shape.Last != weight.Shape[1])
            throw new ArgumentException($"{op}: input {x.Shape} does not fit weight {weight.Shape}.");
        long batch = x.Shape[0], n = weight.Shape[0], k = weight.Shape[1];
        var y = New(new Shape(x.Shape[0], count, (int)n), DType.BF16, op);
        if (batch * count * n == 0) return y;
        if (k == 0)
        {
            DeviceCopy(op, "memset", 0, 2 * batch * count * n);
            return y;
        }
        ToBf16(op, cx);
        ToBf16(op, cw);
        ToBf16(op, cb);
        for (long b = 0; b < batch; b++)
            Ledger.Add(op, GemmEngine == CountedGemmEngine.CublasLt ? "cuBLASLt matmul" : "gemm_bf16", TrafficKind.Gemm,
                2 * count * k + 2 * n * k + Bf16Bytes(cb), 2 * count * n, 2.0 * count * n * k, 1);
        return y;
    }
}
