using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

public sealed partial class CudaBackend
{
    /// <summary>
    /// One GEMM per batch item over its rows [start, start + count), read in place (the A pointer moved to the first row; the
    /// rows of one item are contiguous), each writing its [count, N] block of the output: the values of Slice then Linear,
    /// without the slice's copy. cuBLASLt where the moved pointer keeps the pool's 256-byte alignment its heuristics assume,
    /// gemm.cu otherwise (or without cuBLASLt).
    /// </summary>
    public Tensor LinearOfRows(Tensor x, int start, int count, Tensor weight, Tensor? bias)
    {
        RowRange.Check("LinearOfRows", x, start, count);
        var (cx, cw, cb, _, n, k) = CheckLinear(x, weight, bias);
        int batch = x.Shape[0], seq = x.Shape[1];
        using var op = Enter("LinearOfRows", x, weight, bias);
        var y = New(new Shape(batch, count, n), DType.BF16);
        if ((long)batch * count * n == 0)
            return y;
        if (k == 0)
        {
            CudaDriver.MemsetD8Async(y.Pointer, 0, y.ByteCount, _stream, "LinearOfRows"); // as Linear: K = 0 gives zeros
            return y;
        }
        var xb = Bf16(cx);
        var wb = Bf16(cw);
        var bb = cb is null ? null : Bf16(cb);
        for (int b = 0; b < batch; b++)
        {
            var rows = xb.Pointer + (ulong)((long)b * seq + start) * (ulong)k * 2;
            var output = y.Pointer + (ulong)b * (ulong)count * (ulong)n * 2;
            bool done = _gemm is not null && rows.Address % 256 == 0
                && _gemm.TryMatmul(GemmMapping.ForLinear(count, n, k), wb.Pointer, rows, output, CudaDataType.R16BF,
                    bb is null ? CublasLtEpilogue.Default : CublasLtEpilogue.Bias, PointerOf(bb), "LinearOfRows");
            if (!done)
                Gemm(rows, k, 1, wb.Pointer, k, 1, output, n, 1, count, n, k, bb, biasPerRow: false, Activation.None, outF32: false);
        }
        return y;
    }
}
