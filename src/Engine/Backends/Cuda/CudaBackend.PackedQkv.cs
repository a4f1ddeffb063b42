using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

public sealed partial class CudaBackend
{
    /// <summary>
    /// The GEMM writes its output rows straight into the destination's row range: one GEMM over B·n rows when the range is
    /// the whole destination (the batch items are then one contiguous block), otherwise one per batch item (its rows are
    /// contiguous, [n, N] at row b·S + rowOffset). cuBLASLt where the moved pointers keep the pool's 256-byte alignment its
    /// heuristics assume, gemm.cu otherwise (or without cuBLASLt).
    /// </summary>
    public void LinearIntoRows(Tensor destination, int rowOffset, Tensor x, Tensor weight, Tensor? bias)
    {
        const string name = "LinearIntoRows";
        PackedQkvOp.CheckRows(name, destination, rowOffset, x, weight);
        var cd = Own(destination);
        if (cd.DType != DType.BF16)
            throw new ArgumentException($"{name}: destination {destination.Shape} is {cd.DType}; the GEMM writes bf16.");
        var (cx, cw, cb, _, n, k) = CheckLinear(x, weight, bias);
        int batch = x.Shape[0], rows = x.Shape[1], sequence = destination.Shape[1];
        using var op = Enter(name, x, weight, bias);
        if ((long)batch * rows * n == 0)
            return;
        bool whole = rowOffset == 0 && rows == sequence;
        int gemms = whole ? 1 : batch, m = whole ? batch * rows : rows;
        if (k == 0)
        {
            // K = 0: zeros, as Linear writes.
            for (int b = 0; b < gemms; b++)
            {
                var target = cd.Pointer + (ulong)((long)b * sequence + rowOffset) * (ulong)n * 2;
                CudaDriver.MemsetD8Async(target, 0, (ulong)m * (ulong)n * 2, _stream, name);
            }
            return;
        }
        var xb = Bf16(cx);
        var wb = Bf16(cw);
        var bb = cb is null ? null : Bf16(cb);
        for (int b = 0; b < gemms; b++)
        {
            var input = xb.Pointer + (ulong)((long)b * rows) * (ulong)k * 2;
            var output = cd.Pointer + (ulong)((long)b * sequence + rowOffset) * (ulong)n * 2;
            bool done = _gemm is not null && input.Address % 256 == 0 && output.Address % 256 == 0
                && _gemm.TryMatmul(GemmMapping.ForLinear(m, n, k), wb.Pointer, input, output, CudaDataType.R16BF,
                    bb is null ? CublasLtEpilogue.Default : CublasLtEpilogue.Bias, PointerOf(bb), name);
            if (!done)
                Gemm(input, k, 1, wb.Pointer, k, 1, output, n, 1, m, n, k, bb, biasPerRow: false, Activation.None, outF32: false);
        }
    }

    /// <summary>
    /// The attention kernel the plan picks, reading q, k and v as column slices of the packed buffer: base pointers at
    /// columns 0, H·hd and (H + Hkv)·hd, every row stride W = (H + 2·Hkv)·hd. The kernels take the 16-byte cp.async path
    /// when every row start is 16-byte aligned (hd and W multiples of 8), element loads otherwise.
    /// </summary>
    public Tensor AttentionPacked(PackedQkv qkv, float scale)
    {
        const string name = "AttentionPacked";
        var (batch, sequence) = PackedQkvOp.Check(name, qkv);
        var (h, hkv, d) = (qkv.Heads, qkv.KvHeads, qkv.HeadDim);
        var buffer = Float(qkv.Buffer, name);
        var plan = AttentionPlan.Create(batch, sequence, h, d, d, Limits, ForceReferenceAttention, FlashAttentionVariant);
        if (h > 65535 || batch > 65535)
            throw new NotSupportedException($"Attention: {batch} batches × {h} heads exceed the CUDA grid limits (65535 each).");
        using var op = Enter(name, qkv.Buffer);
        var o = New(new Shape(batch, sequence, h, d), DType.BF16);
        if ((long)batch * sequence * h * d == 0)
            return o;
        var packed = Bf16(buffer);
        int width = qkv.Width;
        var q = packed.Pointer;
        var k = q + (ulong)h * (ulong)d * 2;
        var v = q + (ulong)(h + hkv) * (ulong)d * 2;
        if (plan.Kernel == AttentionKernel.Flash)
            Launch(plan.KernelName, new(plan.GridX, plan.GridY, plan.GridZ), plan.BlockThreads, plan.SharedBytes,
                q, k, v, o.Pointer, default(CuDevicePtr), default(CuDevicePtr), default(CuDevicePtr), default(CuDevicePtr), default(CuDevicePtr),
                sequence, sequence, h, hkv, d, d, scale, false, false, h * d, width, width, width);
        else
            Launch(plan.KernelName, plan.GridX, plan.BlockThreads, 0,
                q, k, v, o.Pointer, default(CuDevicePtr), default(CuDevicePtr), default(CuDevicePtr), default(CuDevicePtr), default(CuDevicePtr),
                batch, sequence, sequence, h, hkv, d, d, scale, false, false, h * d, width, width, width);
        return o;
    }
}
