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
        var buffer = Float(qkv.Buffer, name);
        using var op = Enter(name, qkv.Buffer);
        var o = New(new Shape(batch, sequence, qkv.Heads, qkv.HeadDim), DType.BF16);
        LaunchPackedAttention(name, qkv, buffer, batch, sequence, scale, o.Pointer, qkv.Heads * qkv.HeadDim);
        return o;
    }

    /// <summary><see cref="AttentionPacked"/> with the kernel's output base at the slice's first column and row stride C.</summary>
    public void AttentionPackedInto(Tensor destination, int columnOffset, PackedQkv qkv, float scale)
    {
        const string name = "AttentionPackedInto";
        var (batch, sequence) = PackedQkvOp.Check(name, qkv);
        var cd = Own(destination);
        RequireRank(destination, 3, name, "destination");
        if (cd.DType != DType.BF16)
            throw new ArgumentException($"{name}: destination {destination.Shape} is {cd.DType}; attention writes bf16.");
        ColumnSlice.Check(name, destination, columnOffset, qkv.Heads * qkv.HeadDim, (long)batch * sequence);
        var buffer = Float(qkv.Buffer, name);
        using var op = Enter(name, qkv.Buffer);
        LaunchPackedAttention(name, qkv, buffer, batch, sequence, scale, cd.Pointer + (ulong)columnOffset * 2, destination.Shape.Last);
    }

    private void LaunchPackedAttention(string name, PackedQkv qkv, CudaTensor buffer, int batch, int sequence, float scale, CuDevicePtr output, int outStride)
    {
        var (h, hkv, d) = (qkv.Heads, qkv.KvHeads, qkv.HeadDim);
        var plan = AttentionPlan.Create(batch, sequence, h, d, d, Limits, ForceReferenceAttention, FlashAttentionVariant, sequence, false, AttentionKvSplits);
        if (h > 65535 || batch > 65535)
            throw new NotSupportedException($"{name}: {batch} batches × {h} heads exceed the CUDA grid limits (65535 each).");
        if ((long)batch * sequence * h * d == 0)
            return;
        var packed = Bf16(buffer);
        int width = qkv.Width;
        var q = packed.Pointer;
        var k = q + (ulong)h * (ulong)d * 2;
        var v = q + (ulong)(h + hkv) * (ulong)d * 2;
        CuDevicePtr none = default;
        if (plan.Kernel == AttentionKernel.Flash)
            LaunchFlashAttention(plan, new FlashAttentionCall(q, k, v, output, none, none, none, none, none, batch, sequence, sequence, h, hkv, d, d,
                scale, false, false, outStride, none, width, width, width));
        else
            Launch(plan.KernelName, plan.GridX, plan.BlockThreads, 0,
                q, k, v, output, none, none, none, none, none, batch, sequence, sequence, h, hkv, d, d, scale, false, false, outStride, none, width, width, width);
    }

    /// <summary>
    /// One launch of <c>attention_inputs_inplace_bf16</c> on the q and k columns of a bf16 buffer (norm weights read as bf16,
    /// tables as fp32), v untouched. Other shapes (head width not a multiple of 8 or above 256, more than two parts, an fp32
    /// buffer): the separate passes over the parts' row slices, q and k then copied into their columns.
    /// </summary>
    public void PrepareAttentionInputsInPlace(PackedQkv qkv, IReadOnlyList<QkvPartNorms> parts, float eps, Tensor? cos = null, Tensor? sin = null)
    {
        const string name = "PrepareAttentionInputsInPlace";
        var buffer = Own(qkv.Buffer);
        var (h, hkv, d) = (qkv.Heads, qkv.KvHeads, qkv.HeadDim);
        long tokens = buffer.Shape.Rank == 3 ? (long)buffer.Shape[0] * buffer.Shape[1] : 0;
        long rows = tokens * (h + hkv);
        bool fits = FusedAttentionInputsFit(parts.Count, d) && buffer.DType == DType.BF16 && tokens * qkv.Width <= int.MaxValue;
        var sliced = PackedQkvOp.Parts(this, qkv, parts, cos, sin, slice: !fits);
        using var op = Enter(name, qkv.Buffer, cos);
        if (!fits)
        {
            var (q, k, _) = AttentionInputsOp.Compose(this, sliced, h, hkv, d, eps, cos, sin);
            Copy2d(Bf16(Float(q, name)).Pointer, buffer.Pointer, (ulong)tokens, (ulong)(h * d), (ulong)(h * d), (ulong)qkv.Width, 2);
            Copy2d(Bf16(Float(k, name)).Pointer, buffer.Pointer + (ulong)h * (ulong)d * 2, (ulong)tokens, (ulong)(hkv * d), (ulong)(hkv * d), (ulong)qkv.Width, 2);
            return;
        }
        if (rows == 0)
            return;
        var norms = new CudaTensor?[4];
        for (int i = 0; i < parts.Count; i++)
        {
            norms[2 * i] = parts[i].NormQ is { } nq ? Bf16(Float(nq, name)) : null;
            norms[2 * i + 1] = parts[i].NormK is { } nk ? Bf16(Float(nk, name)) : null;
        }
        var cosTable = cos is null ? null : F32(Float(cos, name));
        var sinTable = sin is null ? null : F32(Float(sin, name));
        int groupLog2 = 0;
        while ((1 << groupLog2) * 8 < d) groupLog2++;
        const int block = 256;
        Launch("attention_inputs_inplace_bf16", (uint)LaunchConfig.CeilDiv(rows << groupLog2, block), block, 0,
            buffer.Pointer, parts[0].Tokens, parts.Count > 1 ? parts[1].Tokens : 0,
            PointerOf(norms[0]), PointerOf(norms[1]), PointerOf(norms[2]), PointerOf(norms[3]),
            PointerOf(cosTable), PointerOf(sinTable), cos is null ? 0 : cos.Shape[1], (int)rows, h, hkv, d, groupLog2, eps);
    }
}
