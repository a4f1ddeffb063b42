using System.Buffers;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>Floats of im2col columns materialised at once (64 MiB).</summary>
    private const int ColumnBufferBudget = 16 << 20;

    /// <summary>
    /// im2col + GEMM: for each image, columns [Cin·kh·kw, Hout·Wout] are gathered once and multiplied by the
    /// weight viewed as [Cout, Cin·kh·kw]. The CUDA backend does the same as an implicit GEMM.
    /// </summary>
    public Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride, int padding)
        => Conv2d(x, weight, bias, stride, padding, ColumnBufferBudget);

    /// <summary><see cref="Conv2d(Tensor, Tensor, Tensor?, int, int)"/> with an explicit column-buffer budget (tests force tiling with a small one).</summary>
    internal Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride, int padding, int columnBudget)
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
        float[]? bd = OptionalVector(bias, cout, "Conv2d bias");
        float[] src = C(x).Data, wd = C(weight).Data;
        var y = New(new Shape(batch, cout, hout, wout));
        float[] dst = y.Data;
        int k = cin * kh * kw, n = hout * wout;
        // The column buffer is tiled over output rows so it stays bounded (a VAE conv at 1024² would need
        // k·n ≈ 2.4e9 floats at once); each tile is one GEMM writing a horizontal band of every output plane.
        int rowsPerTile = Math.Clamp(columnBudget / Math.Max(1, k * wout), 1, hout);
        float[] columns = ArrayPool<float>.Shared.Rent(k * rowsPerTile * wout);
        try
        {
            for (int b = 0; b < batch; b++)
            {
                int inputBase = b * cin * h * w;
                for (int oy0 = 0; oy0 < hout; oy0 += rowsPerTile)
                {
                    int rows = Math.Min(rowsPerTile, hout - oy0), tileN = rows * wout;
                    CpuParallel.For(k, tileN, row =>
                    {
                        int c = row / (kh * kw), ky = row / kw % kh, kx = row % kw;
                        Span<float> col = columns.AsSpan(row * tileN, tileN);
                        for (int r = 0; r < rows; r++)
                        {
                            int iy = (oy0 + r) * stride - padding + ky;
                            for (int ox = 0; ox < wout; ox++)
                            {
                                int ix = ox * stride - padding + kx;
                                col[r * wout + ox] = iy >= 0 && iy < h && ix >= 0 && ix < w
                                    ? src[inputBase + (c * h + iy) * w + ix]
                                    : 0f;
                            }
                        }
                    });
                    CpuGemm.MatMul(cout, tileN, k, wd, k, columns.AsSpan(0, k * tileN), tileN,
                        dst.AsSpan(b * cout * n + oy0 * wout), n);
                }
                if (bd is not null)
                    for (int co = 0; co < cout; co++)
                    {
                        Span<float> plane = dst.AsSpan((b * cout + co) * n, n);
                        TensorPrimitives.Add(plane, bd[co], plane);
                    }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(columns);
        }
        return y;
    }

    public Tensor UpsampleNearest2x(Tensor x)
    {
        RequireRank(x, 4, "UpsampleNearest2x", "x");
        int planes = x.Shape[0] * x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        var y = New(new Shape(x.Shape[0], x.Shape[1], 2 * h, 2 * w));
        float[] src = C(x).Data, dst = y.Data;
        CpuParallel.For(planes, 4L * h * w, p =>
        {
            for (int oy = 0; oy < 2 * h; oy++)
            {
                int srcRow = (p * h + oy / 2) * w, dstRow = (p * 2 * h + oy) * 2 * w;
                for (int ox = 0; ox < 2 * w; ox++) dst[dstRow + ox] = src[srcRow + ox / 2];
            }
        });
        return y;
    }
}
