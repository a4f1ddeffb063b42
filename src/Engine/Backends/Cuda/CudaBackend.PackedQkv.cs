using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

public sealed partial class CudaBackend
{
    /// <summary>
    /// LinearIntoRows calls whose strided-batch matmul cuBLASLt could not run (no algorithm for the layout, or every one
    /// refused), so they ran one GEMM per batch item; each such shape is also reported once in <see cref="Warnings"/>.
    /// </summary>
    public int LinearIntoRowsFallbacks { get; private set; }

    /// <summary>
    /// The GEMM writes its output rows straight into the destination's row range, one launch whatever the batch (Fusion 10
    /// of issue 16). The rows the whole destination: one GEMM over the B·n rows (the items are one contiguous block).
    /// Otherwise item b's [n, N] rows sit at row b·S + rowOffset: cuBLASLt's strided-batch matmul (the weight shared with
    /// batch stride 0, x's items n·K apart, D's S·N apart from the range's first row), where the moved pointer and both
    /// strides keep the pool's 256-byte alignment its heuristics assume; when cuBLASLt has no algorithm for the batched
    /// layout, one cuBLASLt GEMM per item (counted in <see cref="LinearIntoRowsFallbacks"/>). Off the alignment, or without
    /// cuBLASLt: gemm.cu's <c>gemm_bf16_batched</c>, one launch (grid z = the items), each item's bits those of gemm_bf16.
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
        var first = cd.Pointer + (ulong)rowOffset * (ulong)n * 2;
        long xStride = (long)rows * k, dStride = (long)sequence * n;
        if (k == 0)
        {
            // K = 0: zeros, as Linear writes (no model has it: one memset per item's block is fine).
            for (int b = 0; b < (whole ? 1 : batch); b++)
                CudaDriver.MemsetD8Async(first + (ulong)(b * dStride) * 2, 0, (ulong)(whole ? batch : 1) * (ulong)rows * (ulong)n * 2, _stream, name);
            return;
        }
        var xb = Bf16(cx);
        var wb = Bf16(cw);
        var bb = cb is null ? null : Bf16(cb);
        var epilogue = bb is null ? CublasLtEpilogue.Default : CublasLtEpilogue.Bias;
        if (whole)
        {
            LinearTo(xb, wb, bb, Activation.None, cd.Pointer, n, batch * rows, n, k, name);
            return;
        }
        bool aligned = first.Address % 256 == 0 && (batch == 1 || (xStride * 2 % 256 == 0 && dStride * 2 % 256 == 0));
        if (_gemm is not null && aligned)
        {
            var mapping = GemmMapping.ForLinear(rows, n, k);
            if (batch == 1
                    ? _gemm.TryMatmul(mapping, wb.Pointer, xb.Pointer, first, CudaDataType.R16BF, epilogue, PointerOf(bb), name)
                    : _gemm.TryStridedBatchMatmul(mapping, batch, xStride, dStride, wb.Pointer, xb.Pointer, first, epilogue, PointerOf(bb), name))
                return;
            if (batch > 1)
            {
                // The batched layout has no algorithm (reported once per shape by the planner): one GEMM per item, each
                // cuBLASLt's where it has an algorithm for the single item, gemm.cu's otherwise.
                LinearIntoRowsFallbacks++;
                for (int b = 0; b < batch; b++)
                {
                    var input = xb.Pointer + (ulong)(b * xStride) * 2;
                    var output = first + (ulong)(b * dStride) * 2;
                    if (!_gemm.TryMatmul(mapping, wb.Pointer, input, output, CudaDataType.R16BF, epilogue, PointerOf(bb), name))
                        Gemm(input, k, 1, wb.Pointer, k, 1, output, n, 1, rows, n, k, bb, biasPerRow: false, Activation.None, outF32: false);
                }
                return;
            }
        }
        if (LaunchConfig.CeilDiv(rows, 64) > 65535 || batch > 65535)
            throw new NotSupportedException($"gemm.cu: {batch} items of {rows} rows exceed its grid limits ({65535 * 64} rows, 65535 items).");
        Launch("gemm_bf16_batched", new Dim3((uint)LaunchConfig.CeilDiv(n, 64), (uint)LaunchConfig.CeilDiv(rows, 64), (uint)batch), 256, 0,
            xb.Pointer, wb.Pointer, first, PointerOf(bb), rows, n, k, (long)k, 1L, (long)k, 1L, (long)n, 1L, bb is null ? 0 : 1, (int)Activation.None, 0,
            xStride, 0L, dStride);
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
        if ((long)batch * sequence * h * d == 0)
            return;
        var q = Bf16(buffer).Pointer;
        int width = qkv.Width;
        LaunchStridedAttention(name, batch, sequence, sequence, h, hkv, d, scale, (q, width),
            (q + (ulong)h * (ulong)d * 2, width), (q + (ulong)(h + hkv) * (ulong)d * 2, width), output, outStride);
    }

    /// <summary>
    /// Fusion 13: q and k contiguous (<see cref="PrepareQueryKey"/>'s), v read in place from the buffer's value columns —
    /// base pointer at column (H + Hkv)·hd, row stride W — by the attention kernel the plan picks (split-KV included: a
    /// sparse step's few focus rows). The same kernel on the same values as <see cref="Attention"/> over a contiguous v, so
    /// the same bits.
    /// </summary>
    public Tensor AttentionPackedValue(Tensor q, Tensor k, PackedQkv qkv, float scale)
    {
        const string name = PackedValueOp.AttentionName;
        var (batch, rows, sequence) = PackedValueOp.CheckAttention(q, k, qkv);
        var (cq, ck, buffer) = (Float(q, name), Float(k, name), Float(qkv.Buffer, name));
        using var op = Enter(name, q, k, qkv.Buffer);
        var (h, hkv, d) = (qkv.Heads, qkv.KvHeads, qkv.HeadDim);
        var o = New(new Shape(batch, rows, h, d), DType.BF16);
        if ((long)batch * rows * h * d == 0)
            return o;
        var packed = Bf16(buffer).Pointer;
        LaunchStridedAttention(name, batch, rows, sequence, h, hkv, d, scale, (Bf16(cq).Pointer, h * d), (Bf16(ck).Pointer, hkv * d),
            (packed + (ulong)(h + hkv) * (ulong)d * 2, qkv.Width), o.Pointer, h * d);
        return o;
    }

    /// <summary>
    /// One attention launch (the plan's flash kernel, split-KV included, or the reference kernel) of bf16 q, k and v given as
    /// base pointers with row strides in elements; no mask, causality or bias.
    /// </summary>
    private void LaunchStridedAttention(string name, int batch, int sq, int sk, int h, int hkv, int d, float scale,
        (CuDevicePtr Pointer, int Stride) q, (CuDevicePtr Pointer, int Stride) k, (CuDevicePtr Pointer, int Stride) v, CuDevicePtr output, int outStride,
        FlashQueryNorm queryNorm = default)
    {
        var plan = AttentionPlan.Create(batch, sq, h, d, d, Limits, ForceReferenceAttention, FlashAttentionVariant, sk, false, AttentionKvSplits);
        if (h > 65535 || batch > 65535)
            throw new NotSupportedException($"{name}: {batch} batches × {h} heads exceed the CUDA grid limits (65535 each).");
        if ((long)batch * sq * h * d == 0)
            return;
        CuDevicePtr none = default;
        if (plan.Kernel == AttentionKernel.Flash)
            LaunchFlashAttention(plan, new FlashAttentionCall(q.Pointer, k.Pointer, v.Pointer, output, none, none, none, none, none, batch, sq, sk, h, hkv, d, d,
                scale, false, false, outStride, none, q.Stride, k.Stride, v.Stride, queryNorm));
        else if (queryNorm.Stats.Address != 0)
            throw new InvalidOperationException($"{name}: the reference kernel does not normalise q as it loads it; the caller materialises q.");
        else
            Launch(plan.KernelName, plan.GridX, plan.BlockThreads, 0,
                q.Pointer, k.Pointer, v.Pointer, output, none, none, none, none, none, batch, sq, sk, h, hkv, d, d, scale, false, false, outStride, none,
                q.Stride, k.Stride, v.Stride);
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
