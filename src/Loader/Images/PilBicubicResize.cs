namespace AccelAes.Loader.Images;

/// <summary>
/// Pillow 9.4's <c>Image.resize(size, resample=BICUBIC, reducing_gap=None)</c> on 8-bit interleaved pixels,
/// reproduced bit for bit (libImaging/Resample.c: <c>precompute_coeffs</c>, <c>normalize_coeffs_8bpc</c>,
/// <c>ImagingResampleHorizontal_8bpc</c> / <c>Vertical_8bpc</c>; the steps are spelled out in the conformance data's
/// clip_vision_tiny README, B.4). CLIPImageProcessor resizes through Pillow, so matching CLIP's published numbers needs
/// Pillow's exact arithmetic: the separable passes (horizontal first, each only when that side changes) with a
/// uint8 intermediate, and 22-bit fixed-point weights. A float resampler differs by up to 13 levels.
/// </summary>
public static class PilBicubicResize
{
    private const int PrecisionBits = 32 - 8 - 2;
    private const double CubicA = -0.5;

    /// <summary>
    /// <paramref name="pixels"/> [height, width, channels] row-major → [newHeight, newWidth, channels]. The same size
    /// returns a copy, as Pillow does.
    /// </summary>
    public static byte[] Resize(byte[] pixels, int width, int height, int channels, int newWidth, int newHeight)
    {
        if (pixels.Length != checked(width * height * channels))
            throw new ArgumentException($"{pixels.Length} bytes are not a {width}×{height}×{channels} image.");
        if (newWidth <= 0 || newHeight <= 0)
            throw new ArgumentOutOfRangeException(nameof(newWidth), $"Cannot resize to {newWidth}×{newHeight}.");
        byte[] current = (byte[])pixels.Clone();
        if (newWidth != width)
            current = ResampleAxis(current, width, height, channels, newWidth, horizontal: true);
        if (newHeight != height)
            current = ResampleAxis(current, newWidth, height, channels, newHeight, horizontal: false);
        return current;
    }

    /// <summary>Pillow's bicubic kernel, a = −0.5.</summary>
    public static double Cubic(double x)
    {
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((CubicA + 2.0) * x - (CubicA + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * CubicA;
        return 0.0;
    }

    /// <summary>
    /// The per-output-sample source window (first index, count) and normalised weights along one axis, as
    /// <c>precompute_coeffs</c> computes them: the a = −0.5 cubic, stretched by the scale factor when shrinking
    /// (antialiasing), centred on <c>(x + 0.5) · scale</c>, divided by the window's sum. torch's antialiased bicubic
    /// (aten UpSampleKernel.cpp, <c>HelperInterpCubic::aa_filter</c>) ports the same window in floating point.
    /// </summary>
    internal static (int[] First, int[] Count, double[][] Weights) NormalisedWindows(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = 2.0 * filterScale;
        double ss = 1.0 / filterScale;
        var first = new int[outSize];
        var count = new int[outSize];
        var weights = new double[outSize][];
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = (xx + 0.5) * scale;
            // C's (int) truncates toward zero; negative starts are clamped to 0 either way.
            int xmin = Math.Max((int)(center - support + 0.5), 0);
            int xmax = Math.Min((int)(center + support + 0.5), inSize) - xmin;
            var w = new double[xmax];
            double sum = 0.0;
            for (int x = 0; x < xmax; x++)
            {
                w[x] = Cubic((x + xmin - center + 0.5) * ss);
                sum += w[x];
            }
            if (sum != 0.0)
                for (int x = 0; x < xmax; x++) w[x] /= sum;
            first[xx] = xmin;
            count[xx] = xmax;
            weights[xx] = w;
        }
        return (first, count, weights);
    }

    /// <summary>
    /// The windows of <see cref="NormalisedWindows"/> with Pillow's 22-bit fixed-point weights
    /// (<c>normalize_coeffs_8bpc</c>: round half away from zero).
    /// </summary>
    internal static (int[] First, int[] Count, int[][] Weights) Coefficients(int inSize, int outSize)
    {
        var (first, count, normalised) = NormalisedWindows(inSize, outSize);
        var weights = new int[outSize][];
        for (int xx = 0; xx < outSize; xx++)
        {
            var k = new int[count[xx]];
            for (int x = 0; x < k.Length; x++)
            {
                double scaled = normalised[xx][x] * (1 << PrecisionBits);
                k[x] = normalised[xx][x] < 0 ? (int)(-0.5 + scaled) : (int)(0.5 + scaled);
            }
            weights[xx] = k;
        }
        return (first, count, weights);
    }

    private static byte[] ResampleAxis(byte[] src, int width, int height, int channels, int outSize, bool horizontal)
    {
        int inSize = horizontal ? width : height;
        var (first, count, weights) = Coefficients(inSize, outSize);
        int outWidth = horizontal ? outSize : width, outHeight = horizontal ? height : outSize;
        var dst = new byte[outWidth * outHeight * channels];
        // Step between neighbouring source samples along the resampled axis.
        int stride = horizontal ? channels : width * channels;
        for (int y = 0; y < outHeight; y++)
            for (int x = 0; x < outWidth; x++)
            {
                int along = horizontal ? x : y;
                int[] k = weights[along];
                int start = horizontal
                    ? (y * width + first[along]) * channels
                    : (first[along] * width + x) * channels;
                int o = (y * outWidth + x) * channels;
                for (int c = 0; c < channels; c++)
                {
                    long acc = 1L << (PrecisionBits - 1);
                    for (int i = 0; i < count[along]; i++)
                        acc += src[start + i * stride + c] * (long)k[i];
                    dst[o + c] = Clip8(acc);
                }
            }
        return dst;
    }

    /// <summary>Pillow's <c>clip8</c>: the fixed-point sum shifted down, saturated to 0…255.</summary>
    private static byte Clip8(long acc)
    {
        if (acc <= 0) return 0;
        if (acc >= 255L << PrecisionBits) return 255;
        return (byte)(acc >> PrecisionBits);
    }
}
