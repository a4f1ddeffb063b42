using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Counting;

/// <summary>The counting rule of Fusion 6 (issue 16), as CudaBackend.RowsGated.cs runs it.</summary>
public sealed partial class CountingBackend
{
    /// <summary>
    /// cuBLASLt: <see cref="LinearAddGatedInPlace"/>'s rule over the B·count rows (the gate vectors, then one matmul reading the
    /// rows in place), when the first row and the S·K batch stride keep 256-byte alignment; rows off it: the Slice, then
    /// LinearAddGatedInPlace. gemm.cu: one <c>gemm_bf16_add_gated</c> per batch item, each reading its rows, the weight, the
    /// bias, its gate row and its residual block, writing the block. An fp32 residual or K = 0: the Slice, then the op.
    /// </summary>
    public void LinearOfRowsAddGatedInPlace(Tensor residual, Tensor x, int start, int count, Tensor weight, Tensor? bias, Tensor? gate)
        => LinearOfRowsAddGated(residual, x, start, count, weight, bias, gate, prepared: false);

    /// <summary>The rule; <paramref name="prepared"/>: the gate vectors were made by <see cref="PrepareGates"/> (not counted here).</summary>
    private void LinearOfRowsAddGated(Tensor residual, Tensor x, int start, int count, Tensor weight, Tensor? bias, Tensor? gate, bool prepared)
    {
        const string op = "LinearOfRowsAddGatedInPlace";
        CpuBackend.RequireRowsResidual(residual, x, start, count, weight);
        var (cr, cx, cw, cb, cg) = (C(residual, op), C(x, op), C(weight, op), Optional(bias, op), Optional(gate, op));
        long batch = x.Shape[0], seq = x.Shape[1], n = weight.Shape[0], k = weight.Shape[1];
        if (cr.ElementCount == 0) return;
        bool aligned = start * k * 2 % 256 == 0 && seq * k * 2 % 256 == 0;
        if (cr.DType != DType.BF16 || k == 0 || (GemmEngine == CountedGemmEngine.CublasLt && !aligned))
        {
            // CudaBackend runs these inside this op: booked under its name, as the driver's per-op counter sees them.
            var outer = Ledger.BookAs;
            Ledger.BookAs ??= op;
            try
            {
                LinearAddGated(residual, Slice(x, 1, start, count), weight, bias, gate, prepared);
            }
            finally
            {
                Ledger.BookAs = outer;
            }
            return;
        }
        ToBf16(op, cx);
        ToBf16(op, cw);
        ToBf16(op, cb);
        ToBf16(op, cg);
        long m = batch * count, gates = cg?.ElementCount ?? 0, biasBytes = Bf16Bytes(cb);
        double flops = 2.0 * m * n * k;
        if (GemmEngine == CountedGemmEngine.GemmCu)
        {
            for (long b = 0; b < batch; b++)
                Ledger.Add(op, "gemm_bf16_add_gated", TrafficKind.Gemm, 2 * count * k + 2 * n * k + biasBytes + (cg is null ? 0 : 2 * n) + 2 * count * n,
                    2 * count * n, 2.0 * count * n * k, 1);
            return;
        }
        if (cg is not null)
        {
            if (!prepared) Kernel(op, "gated_epilogue_vectors", gates, 2 * gates + biasBytes, 4 * gates + (cb is null ? 0 : 2 * gates));
            biasBytes = cb is null ? 0 : 2 * gates;
        }
        Ledger.Add(op, "cuBLASLt matmul (gated residual)", TrafficKind.Gemm, 2 * m * k + 2 * n * k + biasBytes + 4 * gates + 2 * m * n,
            2 * m * n, flops, 1);
    }
}
