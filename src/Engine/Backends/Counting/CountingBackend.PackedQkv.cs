using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Counting;

// The counting rules of Fusion 7 (issue 16: attention reads q/k/v from the packed QKV buffer), kept apart from
// CountingBackend.Rules.cs so the kernel workers' rules merge without conflicts; same conventions.
public sealed partial class CountingBackend
{
    /// <summary>
    /// CudaBackend.LinearIntoRows (Fusion 10): one launch whatever the batch, reading x's B·n rows and the weight (and bias)
    /// once and writing the B·n output rows in place; nothing is copied afterwards. The rows the whole destination: one GEMM
    /// over the B·n rows. A row range: cuBLASLt's strided-batch matmul where the range's first row and the batch strides
    /// n·K and S·N keep 256-byte alignment (the weight shared with batch stride 0), gemm.cu's <c>gemm_bf16_batched</c> off
    /// it or without cuBLASLt. (cuBLASLt refusing the batched layout — one GEMM per item — is not modelled: it is a
    /// property of the installed library, reported by the backend when it happens.)
    /// </summary>
    public void LinearIntoRows(Tensor destination, int rowOffset, Tensor x, Tensor weight, Tensor? bias)
    {
        const string op = "LinearIntoRows";
        PackedQkvOp.CheckRows(op, destination, rowOffset, x, weight);
        var (cd, cx, cw, cb) = (C(destination, op), C(x, op), C(weight, op), Optional(bias, op));
        long batch = x.Shape[0], rows = x.Shape[1], n = weight.Shape[0], k = weight.Shape[1], sequence = cd.Shape[1];
        if (batch * rows * n == 0) return;
        bool whole = rowOffset == 0 && rows == sequence;
        if (k == 0)
        {
            DeviceCopy(op, "memset", 0, 2 * batch * rows * n);
            return;
        }
        ToBf16(op, cx);
        ToBf16(op, cw);
        ToBf16(op, cb);
        bool aligned = rowOffset * n * 2 % 256 == 0 && (batch == 1 || (rows * k * 2 % 256 == 0 && sequence * n * 2 % 256 == 0));
        bool cublasLt = GemmEngine == CountedGemmEngine.CublasLt && (whole || aligned);
        string kernel = cublasLt ? (whole || batch == 1 ? "cuBLASLt matmul" : "cuBLASLt matmul (strided batch)")
            : whole ? "gemm_bf16" : "gemm_bf16_batched";
        long m = batch * rows;
        Ledger.Add(op, kernel, TrafficKind.Gemm, 2 * m * k + 2 * n * k + Bf16Bytes(cb), 2 * m * n, 2.0 * m * n * k, 1);
    }

    /// <summary>
    /// CudaBackend.AttentionPacked: the attention kernel reading q, k and v in place (row stride W): the same bytes as
    /// <see cref="Attention"/> over the unpacked tensors, and no unpacking pass.
    /// </summary>
    public Tensor AttentionPacked(PackedQkv qkv, float scale)
    {
        const string op = "AttentionPacked";
        var (batch, sequence) = PackedQkvOp.Check(op, qkv);
        var o = New(new Shape(batch, sequence, qkv.Heads, qkv.HeadDim), DType.BF16, op);
        CountPackedAttention(op, qkv, batch, sequence);
        return o;
    }

    /// <summary>CudaBackend.AttentionPackedInto: <see cref="AttentionPacked"/>'s launch, the output written into the slice.</summary>
    public void AttentionPackedInto(Tensor destination, int columnOffset, PackedQkv qkv, float scale)
    {
        const string op = "AttentionPackedInto";
        var (batch, sequence) = PackedQkvOp.Check(op, qkv);
        var cd = C(destination, op);
        if (destination.Shape.Rank != 3)
            throw new ArgumentException($"{op}: destination {destination.Shape} must have rank 3.");
        ColumnSlice.Check(op, cd, columnOffset, qkv.Heads * qkv.HeadDim, (long)batch * sequence);
        CountPackedAttention(op, qkv, batch, sequence);
    }

    /// <summary>
    /// CudaBackend.PrepareAttentionInputsInPlace: one launch of attention_inputs_inplace_bf16 that reads and writes back the q
    /// and k columns (2·B·S·(H + Hkv)·hd bytes each way) and reads the norm weights and fp32 tables once; v is not touched.
    /// Shapes the kernel does not take: the separate passes over the parts' row slices, then q and k copied into their columns.
    /// </summary>
    public void PrepareAttentionInputsInPlace(PackedQkv qkv, IReadOnlyList<QkvPartNorms> parts, float eps, Tensor? cos = null, Tensor? sin = null)
    {
        const string op = "PrepareAttentionInputsInPlace";
        var (h, hkv, d) = (qkv.Heads, qkv.KvHeads, qkv.HeadDim);
        var cb = C(qkv.Buffer, op);
        bool fits = CudaBackend.FusedAttentionInputsFit(parts.Count, d) && cb.DType == DType.BF16;
        // The fallback's slices and passes run inside this op on the device: booked under its name (one op to the driver's counter).
        var outer = Ledger.BookAs;
        Ledger.BookAs ??= op;
        try
        {
            var sliced = PackedQkvOp.Parts(this, qkv, parts, cos, sin, slice: !fits);
            if (!fits)
            {
                long tokens = (long)cb.Shape[0] * cb.Shape[1];
                AttentionInputsOp.Compose(this, sliced, h, hkv, d, eps, cos, sin);
                Copy2d(op, tokens, (long)h * d, (long)h * d, qkv.Width, 2);
                Copy2d(op, tokens, (long)hkv * d, (long)hkv * d, qkv.Width, 2);
                return;
            }
        }
        finally
        {
            Ledger.BookAs = outer;
        }
        long qkTokens = (long)cb.Shape[0] * cb.Shape[1];
        long read = 0;
        foreach (var part in parts)
        {
            var (nq, nk) = (Optional(part.NormQ, op), Optional(part.NormK, op));
            ToBf16(op, nq);
            ToBf16(op, nk);
            read += Bf16Bytes(nq) + Bf16Bytes(nk);
        }
        read += TableBytes(op, cos, sin);
        long qk = 2L * qkTokens * (h + hkv) * d;
        Kernel(op, "attention_inputs_inplace_bf16", qk / 2, read + qk, qk);
    }

    private void CountPackedAttention(string op, PackedQkv qkv, int batch, int sequence)
    {
        var cb = C(qkv.Buffer, op);
        var (h, hkv, d) = (qkv.Heads, qkv.KvHeads, qkv.HeadDim);
        if ((long)batch * sequence * h == 0) return;
        ToBf16(op, cb);
        long tokens = (long)batch * sequence;
        long read = 2L * tokens * (h + 2L * hkv) * d, written = 2L * tokens * h * d;
        CountFlashAttention(op, read, written, 0, 0, 2.0 * batch * h * sequence * sequence * (2L * d), batch, sequence, sequence, h, d, d,
            causal: false, withAffinity: false);
    }
}
