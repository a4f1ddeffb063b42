using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>Fusion 6 of issue 16: a joint attention's gated output projections reading their rows of the attention output in place.</summary>
public sealed partial class CudaBackend
{
    /// <summary>
    /// residual [B, count, N] += gate[b] ⊙ (x[b, start…start+count)·Wᵀ + bias), the rows read where they are. cuBLASLt: the
    /// gated-residual matmul of <see cref="LinearAddGatedInPlace"/> (same gate vectors, same epilogue) with x's pointer moved
    /// to the first row and a batch stride of S·K, where both keep the pool's 256-byte alignment the heuristics assume.
    /// Without cuBLASLt: gemm.cu's <c>gemm_bf16_add_gated</c> once per batch item on its rows (each output element is
    /// computed as on the sliced input). Otherwise (rows off the alignment, no algorithm for the shape, an fp32 residual,
    /// K = 0): the slice, then <see cref="LinearAddGatedInPlace"/>, so the values are always Slice + LinearAddGatedInPlace's.
    /// </summary>
    public void LinearOfRowsAddGatedInPlace(Tensor residual, Tensor x, int start, int count, Tensor weight, Tensor? bias, Tensor? gate)
        => LinearOfRowsAddGated(residual, x, start, count, weight, bias, gate, prepared: null);

    /// <summary>The gated projection of the rows; <paramref name="prepared"/>: the gate's epilogue vectors from <see cref="PrepareGates"/> (null: made here).</summary>
    private void LinearOfRowsAddGated(Tensor residual, Tensor x, int start, int count, Tensor weight, Tensor? bias, Tensor? gate,
        CudaGateVectors? prepared)
    {
        const string name = "LinearOfRowsAddGatedInPlace";
        CpuBackend.RequireRowsResidual(residual, x, start, count, weight);
        var (cx, cw, cb, _, n, k) = CheckLinear(x, weight, bias);
        var cr = Float(residual, name);
        int batch = x.Shape[0], seq = x.Shape[1];
        var g = OptionalPerBatch(gate, batch, n, name + " gate");
        using var op = Enter(name, residual, x, weight);
        if (residual.ElementCount == 0)
            return;
        long xStride = (long)seq * k;
        bool aligned = (long)start * k * 2 % 256 == 0 && xStride * 2 % 256 == 0;
        if (cr.DType != DType.BF16 || k == 0 || (_gemm is not null && !aligned))
        {
            SliceThenGated(residual, x, start, count, weight, bias, gate, prepared);
            return;
        }
        var xb = Bf16(cx);
        var wb = Bf16(cw);
        var bb = cb is null ? null : Bf16(cb);
        var gb = g is null ? null : Bf16(g);
        var firstRow = xb.Pointer + (ulong)start * (ulong)k * 2;
        if (_gemm is null)
        {
            if (LaunchConfig.CeilDiv(count, 64) > 65535)
                throw new NotSupportedException($"gemm.cu: {count} rows exceed its grid limit ({65535 * 64}).");
            var grid = new Dim3((uint)LaunchConfig.CeilDiv(n, 64), (uint)LaunchConfig.CeilDiv(count, 64));
            for (int b = 0; b < batch; b++)
            {
                var itemGate = gb is null ? default : gb.Pointer + (ulong)b * (ulong)n * 2;
                Launch("gemm_bf16_add_gated", grid, 256, 0, firstRow + (ulong)b * (ulong)xStride * 2, wb.Pointer,
                    cr.Pointer + (ulong)b * (ulong)count * (ulong)n * 2, PointerOf(bb), itemGate, count, n, k, (long)k, 1L, (long)k, 1L,
                    (long)n, (long)count);
            }
            return;
        }
        var mapping = GemmMapping.ForLinear(count, n, k);
        if (_gemm.CanRunGatedResidual(mapping, batch, gb is not null, bb is not null, name, xStride))
        {
            var (alpha, scaledBias) = gb is null ? (default(CuDevicePtr), PointerOf(bb)) : GateVectors(gb, bb, batch, n, prepared);
            if (_gemm.TryGatedResidual(mapping, batch, wb.Pointer, firstRow, cr.Pointer, alpha, scaledBias, name, xStride))
                return;
        }
        // No algorithm for the strided shape (warned once by the planner): the packed rows' path, with its own fallback.
        SliceThenGated(residual, x, start, count, weight, bias, gate, prepared);
    }

    private void SliceThenGated(Tensor residual, Tensor x, int start, int count, Tensor weight, Tensor? bias, Tensor? gate, CudaGateVectors? prepared)
    {
        using var rows = Slice(x, 1, start, count);
        LinearAddGated(residual, rows, weight, bias, gate, prepared);
    }
}
