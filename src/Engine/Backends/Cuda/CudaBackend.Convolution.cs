using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

public sealed partial class CudaBackend
{
    /// <summary>
    /// im2col + GEMM per image and column chunk (conv.cu; mapping <see cref="GemmMapping.ForConvChunk"/>): the GEMM
    /// writes fp32, a store kernel adds the per-channel bias and rounds once. A 1×1, stride-1, unpadded conv
    /// uses the image itself as the col matrix. Chunks keep col + accumulator within
    /// <see cref="CudaBackendOptions.ConvolutionScratchBytes"/>.
    /// </summary>
    public Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride, int padding)
    {
        RequireRank(x, 4, "Conv2d", "x");
        RequireRank(weight, 4, "Conv2d", "weight");
        int batch = x.Shape[0], cin = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        int cout = weight.Shape[0], kh = weight.Shape[2], kw = weight.Shape[3];
        if (weight.Shape[1] != cin)
            throw new ArgumentException($"Conv2d: input {x.Shape} has {cin} channels, weight {weight.Shape} expects {weight.Shape[1]}.");
        if (stride <= 0 || padding < 0)
            throw new ArgumentException($"Conv2d: invalid stride {stride} or padding {padding}.");
        int hout = (h + 2 * padding - kh) / stride + 1, wout = (w + 2 * padding - kw) / stride + 1;
        if (hout <= 0 || wout <= 0)
            throw new ArgumentException($"Conv2d: kernel {kh}×{kw} does not fit input {h}×{w} with padding {padding}.");
        var cb = OptionalVector(bias, cout, "Conv2d bias");
        var cx = Float(x, "Conv2d");
        var cw = Float(weight, "Conv2d");
        using var op = Enter("Conv2d", x, weight, bias);
        var y = New(new Shape(batch, cout, hout, wout), DType.BF16);
        if (y.ElementCount == 0)
            return y;
        var xb = Bf16(cx);
        var wb = Bf16(cw);
        var bb = cb is null ? null : Bf16(cb);
        int k = cin * kh * kw, n = hout * wout;
        if (k == 0)
        {
            // No input channels: the CPU reference's GEMM sums nothing, then adds the bias.
            CudaDriver.MemsetD8Async(y.Pointer, 0, y.ByteCount, _stream, "Conv2d");
            if (bb is not null)
                for (int b = 0; b < batch; b++)
                {
                    var zeros = Temporary(new Shape(cout, n), DType.F32);
                    CudaDriver.MemsetD8Async(zeros.Pointer, 0, zeros.ByteCount, _stream, "Conv2d");
                    Elementwise("conv_bias_store_bf16", (ulong)cout * (ulong)n, zeros.Pointer, bb.Pointer,
                        y.Pointer + (ulong)b * (ulong)cout * (ulong)n * 2, cout, (ulong)n, 0UL, (ulong)n);
                }
            return y;
        }
        bool direct = kh == 1 && kw == 1 && stride == 1 && padding == 0;
        int nc = ConvChunkColumns(k, cout, n, Options.ConvolutionScratchBytes);
        CudaTensor? col = direct && nc == n ? null : Temporary(new Shape(k, nc), DType.BF16);
        var acc = Temporary(new Shape(cout, nc), DType.F32);
        ulong imageIn = (ulong)cin * (ulong)h * (ulong)w * 2, imageOut = (ulong)cout * (ulong)n * 2;
        for (int b = 0; b < batch; b++)
        {
            CuDevicePtr image = xb.Pointer + (ulong)b * imageIn;
            for (int n0 = 0; n0 < n; n0 += nc)
            {
                int c = Math.Min(nc, n - n0);
                CuDevicePtr colPtr;
                if (col is null && image.Address % 256 == 0)
                {
                    colPtr = image; // 1×1 conv, whole image: x [Cin, H·W] is already col [K, N]
                }
                else
                {
                    col ??= Temporary(new Shape(k, nc), DType.BF16);
                    colPtr = col.Pointer;
                    Elementwise("im2col_bf16", (ulong)k * (ulong)c, image, colPtr, cin, h, w, kh, kw, stride, padding, wout, (ulong)n0, (ulong)c);
                }
                bool done = _gemm is not null && _gemm.TryMatmul(GemmMapping.ForConvChunk(cout, c, k), colPtr, wb.Pointer, acc.Pointer,
                    CudaDataType.R32F, CublasLtEpilogue.Default, default, "Conv2d");
                if (!done) // gemm.cu: A = W [cout, k], B = col [k, c] (element (j, p) at p·c + j), C = acc [cout, c]
                    Gemm(wb.Pointer, k, 1, colPtr, 1, c, acc.Pointer, c, 1, cout, c, k, null, false, Activation.None, outF32: true);
                Elementwise("conv_bias_store_bf16", (ulong)cout * (ulong)c, acc.Pointer, PointerOf(bb),
                    y.Pointer + (ulong)b * imageOut, cout, (ulong)n, (ulong)n0, (ulong)c);
            }
        }
        return y;
    }

    /// <summary>Output columns per chunk so that col (2·k bytes per column) and the fp32 accumulator (4·cout) fit the budget;
    /// a multiple of 8 when chunking (aligned leading dimensions for cuBLASLt).</summary>
    public static int ConvChunkColumns(int k, int cout, int n, ulong budgetBytes)
    {
        ulong perColumn = 2UL * (ulong)k + 4UL * (ulong)cout;
        ulong fit = Math.Max(1, budgetBytes / Math.Max(1, perColumn));
        if (fit >= (ulong)n)
            return n;
        return fit >= 8 ? (int)(fit / 8 * 8) : (int)fit;
    }

    public Tensor UpsampleNearest2x(Tensor x)
    {
        RequireRank(x, 4, "UpsampleNearest2x", "x");
        var cx = Float(x, "UpsampleNearest2x");
        using var op = Enter("UpsampleNearest2x", x);
        int planes = x.Shape[0] * x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        var y = New(new Shape(x.Shape[0], x.Shape[1], 2 * h, 2 * w), cx.DType);
        ulong n = (ulong)y.ElementCount;
        Elementwise(cx.ElementSize == 4 ? "upsample_nearest2x_b32" : "upsample_nearest2x_b16", n, cx.Pointer, y.Pointer, (ulong)planes, h, w);
        return y;
    }
}
