using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Counting;

// The counting rules of Fusion 7 (issue 16: attention reads q/k/v from the packed QKV buffer), kept apart from
// CountingBackend.Rules.cs so the kernel workers' rules merge without conflicts; same conventions.
public sealed partial class CountingBackend
{
    /// <summary>
    /// CudaBackend.LinearIntoRows: one GEMM when the rows are the whole destination (its batch items are then one contiguous
    /// [B·n, N] block), otherwise one GEMM per batch item writing its [n, N] rows in place; each reads its [n, K] rows of x and
    /// the weight (and bias). Nothing is copied afterwards.
    /// </summary>
    public void LinearIntoRows(Tensor destination, int rowOffset, Tensor x, Tensor weight, Tensor? bias)
    {
        const string op = "LinearIntoRows";
        PackedQkvOp.CheckRows(op, destination, rowOffset, x, weight);
        var (cd, cx, cw, cb) = (C(destination, op), C(x, op), C(weight, op), Optional(bias, op));
        long batch = x.Shape[0], rows = x.Shape[1], n = weight.Shape[0], k = weight.Shape[1];
        if (batch * rows * n == 0) return;
        if (k == 0)
        {
            DeviceCopy(op, "memset", 0, 2 * batch * rows * n);
            return;
        }
        ToBf16(op, cx);
        ToBf16(op, cw);
        ToBf16(op, cb);
        bool whole = rowOffset == 0 && rows == cd.Shape[1];
        long gemms = whole ? 1 : batch, m = whole ? batch * rows : rows;
        for (long g = 0; g < gemms; g++)
            Ledger.Add(op, GemmEngine == CountedGemmEngine.CublasLt ? "cuBLASLt matmul" : "gemm_bf16", TrafficKind.Gemm,
                2 * m * k + 2 * n * k + Bf16Bytes(cb), 2 * m * n, 2.0 * m * n * k, 1);
    }

    /// <summary>
    /// CudaBackend.AttentionPacked: the attention kernel reading q, k and v in place (row stride W): the same bytes as
    /// <see cref="Attention"/> over the unpacked tensors, and no unpacking pass.
    /// </summary>
    public Tensor AttentionPacked(PackedQkv qkv, float scale)
    {
        const string op = "AttentionPacked";
        var (batch, sequence) = PackedQkvOp.Check(op, qkv);
        var cb = C(qkv.Buffer, op);
        var (h, hkv, d) = (qkv.Heads, qkv.KvHeads, qkv.HeadDim);
        var o = New(new Shape(batch, sequence, h, d), DType.BF16, op);
        if ((long)batch * sequence * h == 0) return o;
        ToBf16(op, cb);
        long tokens = (long)batch * sequence;
        long read = 2L * tokens * (h + 2L * hkv) * d, written = 2L * tokens * h * d;
        Ledger.Add(op, "attention", TrafficKind.Attention, read, written, 2.0 * batch * h * sequence * sequence * (2L * d), 1);
        return o;
    }
}
