using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

public sealed partial class CudaBackend
{
    /// <summary>Concatenation; the parts' storage type is kept when they all share it, otherwise the result is BF16.</summary>
    public Tensor Concat(int axis, params Tensor[] parts)
    {
        var (shape, ax) = OpShapes.Concat(axis, parts);
        // Weights of a transformer block streamed under --offload sequential, joined at load: joined on the host, in the stream.
        if (parts.All(p => p is CudaTensor { Streamed: not null }) && ((CudaTensor)parts[0]).Streamed!.Stream.TryJoin(ax, shape, parts.Cast<CudaTensor>().ToList()) is { } joined)
            return joined;
        if (ax == 0 && parts.All(p => Own(p).DType == DType.F8E4M3))
        {
            // fp8 weights joined by rows stay fp8 (their scales are per row).
            using var join = Enter("Concat", parts[0]);
            return ConcatFp8Rows(shape, parts.Select(Own).ToList());
        }
        Shape first = parts[0].Shape;
        var cparts = parts.Select(p => Float(p, "Concat")).ToArray();
        using var op = Enter("Concat", parts[0], parts.Length > 1 ? parts[1] : null, parts.Length > 2 ? parts[2] : null);
        DType dtype = cparts.All(p => p.DType == cparts[0].DType) ? cparts[0].DType : DType.BF16;
        var y = New(shape, dtype);
        int outer = first.Outer(ax), inner = first.Inner(ax);
        int offset = 0;
        foreach (var part in cparts)
        {
            var src = dtype == DType.BF16 ? Bf16(part) : part;
            ulong block = (ulong)part.Shape[ax] * (ulong)inner;
            Copy2d(src.Pointer, y.Pointer + (ulong)offset * (ulong)inner * (ulong)y.ElementSize, (ulong)outer, block, block,
                (ulong)shape[ax] * (ulong)inner, y.ElementSize);
            offset += part.Shape[ax];
        }
        return y;
    }

    public Tensor GatherRows(Tensor table, Tensor indices)
    {
        RequireRank(table, 2, "GatherRows", "table");
        int rows = table.Shape[0], d = table.Shape[1];
        var ci = Index(indices, "GatherRows");
        var ct = Float(table, "GatherRows");
        if (ci.HostIndices is { } host)
            for (int i = 0; i < host.Length; i++)
                if ((uint)host[i] >= (uint)rows)
                    throw new ArgumentOutOfRangeException(nameof(indices), $"GatherRows: index {host[i]} at position {i} is outside the table's {rows} rows.");
        using var op = Enter("GatherRows", table, indices);
        int[] dims = [.. indices.Shape.Dims, d];
        var y = New(new Shape(dims), ct.DType);
        ulong count = (ulong)indices.ElementCount;
        Elementwise(ct.DType == DType.F32 ? "gather_rows_b32" : "gather_rows_b16", count * (ulong)d,
            ct.Pointer, ci.Pointer, y.Pointer, count, rows, d, ScratchSlot(ScratchGatherError));
        if (ci.HostIndices is null && count * (ulong)d > 0)
            _gatherChecksPending = true;
        return y;
    }

    /// <summary>
    /// destination[indices[i]] ← source[i], in place; source is converted to destination's storage type. Indices uploaded
    /// from the host are all checked before anything is written (the CPU reference's message); they must be distinct
    /// (duplicates race on the GPU).
    /// </summary>
    public void ScatterRowsInPlace(Tensor destination, Tensor indices, Tensor source)
    {
        RequireRank(destination, 2, "ScatterRowsInPlace", "destination");
        RequireRank(source, 2, "ScatterRowsInPlace", "source");
        int rows = destination.Shape[0], d = destination.Shape[1];
        var ci = Index(indices, "ScatterRowsInPlace");
        if (source.Shape[1] != d || source.Shape[0] != indices.ElementCount)
            throw new ArgumentException($"ScatterRowsInPlace: source {source.Shape} does not match {indices.ElementCount} indices of rows of width {d}.");
        var cd = Float(destination, "ScatterRowsInPlace");
        var cs = Float(source, "ScatterRowsInPlace");
        if (ci.HostIndices is { } host)
            for (int i = 0; i < host.Length; i++)
                if ((uint)host[i] >= (uint)rows)
                    throw new ArgumentOutOfRangeException(nameof(indices), $"ScatterRowsInPlace: index {host[i]} at position {i} is outside the destination's {rows} rows.");
        using var op = Enter("ScatterRowsInPlace", destination, indices, source);
        var src = cd.DType == DType.F32 ? F32(cs) : Bf16(cs);
        ulong count = (ulong)indices.ElementCount;
        Elementwise(cd.ElementSize == 4 ? "scatter_rows_b32" : "scatter_rows_b16", count * (ulong)d,
            cd.Pointer, ci.Pointer, src.Pointer, count, rows, d, ScratchSlot(ScratchGatherError));
        if (ci.HostIndices is null && count * (ulong)d > 0)
            _gatherChecksPending = true;
    }

    /// <summary>A copy with the same storage type (index tensors included).</summary>
    public Tensor Copy(Tensor x)
    {
        var cx = Own(x);
        using var op = Enter("Copy", x);
        var y = New(cx.Shape, cx.DType, cx.HostIndices is null ? null : (int[])cx.HostIndices.Clone());
        CudaDriver.MemcpyDtoDAsync(y.Pointer, cx.Pointer, cx.ByteCount, _stream, "Copy");
        return y;
    }

    public Tensor Slice(Tensor x, int axis, int start, int length)
    {
        int ax = x.Shape.Axis(axis);
        if (start < 0 || length < 0 || start + length > x.Shape[ax])
            throw new ArgumentOutOfRangeException(nameof(start), $"Slice [{start}, {start + length}) is outside axis {ax} of {x.Shape}.");
        var cx = Float(x, "Slice");
        using var op = Enter("Slice", x);
        var y = New(x.Shape.With(ax, length), cx.DType);
        int outer = x.Shape.Outer(ax), inner = x.Shape.Inner(ax), size = x.Shape[ax];
        ulong es = (ulong)cx.ElementSize;
        Copy2d(cx.Pointer + (ulong)start * (ulong)inner * es, y.Pointer, (ulong)outer, (ulong)length * (ulong)inner,
            (ulong)size * (ulong)inner, (ulong)length * (ulong)inner, cx.ElementSize);
        return y;
    }

    public Tensor TransposeLast2(Tensor x)
    {
        if (x.Shape.Rank < 2) throw new ArgumentException($"TransposeLast2: {x.Shape} has fewer than 2 dimensions.");
        var cx = Float(x, "TransposeLast2");
        using var op = Enter("TransposeLast2", x);
        int m = x.Shape[-2], n = x.Shape[-1];
        int[] dims = x.Shape.ToArray();
        (dims[^2], dims[^1]) = (n, m);
        var y = New(new Shape(dims), cx.DType);
        long matrices = (long)m * n == 0 ? 0 : x.ElementCount / ((long)m * n);
        long tilesM = LaunchConfig.CeilDiv(m, 32);
        if (tilesM > 65535)
            throw new NotSupportedException($"TransposeLast2: {m} rows exceed the kernel's grid limit ({65535 * 32}).");
        var grid = new Dim3((uint)LaunchConfig.CeilDiv(n, 32), (uint)tilesM, (uint)Math.Min(matrices, 65535));
        Launch(cx.ElementSize == 4 ? "transpose_last2_b32" : "transpose_last2_b16", grid, new Dim3(32, 8), 0,
            cx.Pointer, y.Pointer, (ulong)matrices, m, n);
        return y;
    }

    public Tensor Patchify(Tensor x, int patch, PatchLayout layout)
    {
        RequireRank(x, 4, "Patchify", "x");
        int batch = x.Shape[0], channels = x.Shape[1], height = x.Shape[2], width = x.Shape[3];
        if (patch <= 0 || height % patch != 0 || width % patch != 0)
            throw new ArgumentException($"Patchify: {height}×{width} is not divisible into {patch}×{patch} patches.");
        var cx = Float(x, "Patchify");
        using var op = Enter("Patchify", x);
        int gh = height / patch, gw = width / patch, features = channels * patch * patch;
        var y = New(new Shape(batch, gh * gw, features), cx.DType);
        ulong n = (ulong)y.ElementCount;
        Elementwise(cx.ElementSize == 4 ? "patchify_b32" : "patchify_b16", n, cx.Pointer, y.Pointer, batch, channels, height, width, patch, (int)layout);
        return y;
    }

    public Tensor Unpatchify(Tensor tokens, int channels, int height, int width, int patch, PatchLayout layout)
    {
        RequireRank(tokens, 3, "Unpatchify", "tokens");
        if (patch <= 0 || height % patch != 0 || width % patch != 0)
            throw new ArgumentException($"Unpatchify: {height}×{width} is not divisible into {patch}×{patch} patches.");
        int batch = tokens.Shape[0], gh = height / patch, gw = width / patch;
        if (tokens.Shape[1] != gh * gw || tokens.Shape[2] != channels * patch * patch)
            throw new ArgumentException($"Unpatchify: tokens {tokens.Shape} do not match [{batch}, {gh * gw}, {channels * patch * patch}].");
        var ct = Float(tokens, "Unpatchify");
        using var op = Enter("Unpatchify", tokens);
        var y = New(new Shape(batch, channels, height, width), ct.DType);
        ulong n = (ulong)y.ElementCount;
        Elementwise(ct.ElementSize == 4 ? "unpatchify_b32" : "unpatchify_b16", n, ct.Pointer, y.Pointer, batch, channels, height, width, patch, (int)layout);
        return y;
    }

    /// <summary>
    /// dst[r·dstStride + c] = src[r·srcStride + c] for r &lt; rows, c &lt; cols (strides in elements): one memcpy when the rows
    /// are contiguous, else the driver's 2D copy (cuMemcpy2DAsync: no kernel launch, no index arithmetic; issue 16), and the
    /// copy2d kernel when the pitches exceed the driver's limit or the driver refuses them (it documents that intra-device
    /// 2D copies "may fail for pitches not computed by cuMemAllocPitch"; after one refusal this backend keeps to the kernel).
    /// </summary>
    private void Copy2d(CuDevicePtr src, CuDevicePtr dst, ulong rows, ulong cols, ulong srcStride, ulong dstStride, int elementSize)
    {
        ulong n = rows * cols;
        if (n == 0)
            return;
        ulong size = (ulong)elementSize;
        if (rows == 1 || (srcStride == cols && dstStride == cols))
        {
            CudaDriver.MemcpyDtoDAsync(dst, src, n * size, _stream, "copy");
            return;
        }
        if (!_memcpy2dRefused && Copy2dPlan.FitsDriverPitch(srcStride * size, dstStride * size))
        {
            var status = CudaDriver.TryMemcpy2DAsync(CuMemcpy2D.DeviceToDevice(dst, dstStride * size, src, srcStride * size, cols * size, rows), _stream);
            if (status == CuResult.CUDA_SUCCESS)
                return;
            if (status is not (CuResult.CUDA_ERROR_INVALID_VALUE or CuResult.CUDA_ERROR_INVALID_PITCH_VALUE))
                CudaDriver.Check(status, "cuMemcpy2DAsync_v2", _opName);
            _memcpy2dRefused = true;
        }
        Elementwise(elementSize == 4 ? "copy2d_b32" : "copy2d_b16", n, src, dst, rows, cols, srcStride, dstStride);
    }

    /// <summary>Set when the driver refused a 2D copy's pitches: strided copies use the copy2d kernel from then on.</summary>
    private bool _memcpy2dRefused;

    /// <summary>Whether the driver's 2D copy took every strided copy so far (false after a refusal; tests read it).</summary>
    internal bool UsesDriver2dCopies => !_memcpy2dRefused;
}
