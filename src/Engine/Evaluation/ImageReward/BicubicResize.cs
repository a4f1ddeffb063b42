using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Engine.Evaluation.ImageReward;

/// <summary>
/// A plain separable bicubic resize in the manner of PIL's <c>BICUBIC</c> filter: the cubic convolution kernel with
/// a = −0.5, widened by the scale factor when shrinking (antialiasing, as PIL does), weights normalised per output
/// pixel, the horizontal pass first with its result rounded to 8 bits, then the vertical pass.
/// </summary>
/// <remarks>
/// Not bit-exact to PIL: PIL computes with 22-bit fixed-point weights, this with float weights, so a channel value can
/// differ by one level where a sum lands near a rounding boundary. A PIL-exact resizer can be passed to
/// <see cref="BlipImageTransform"/> in its place.
/// </remarks>
public static class BicubicResize
{
    private const double A = -0.5;
    private const double Support = 2.0;

    public static RgbImage Resize(RgbImage image, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"Resize target {width}×{height} must be positive.");
        if (image.Width == width && image.Height == height) return image with { Pixels = (byte[])image.Pixels.Clone() };

        byte[] pixels = image.Pixels;
        int inWidth = image.Width, inHeight = image.Height;
        if (width != inWidth)
        {
            pixels = Pass(pixels, inWidth, inHeight, width, horizontal: true);
            inWidth = width;
        }
        if (height != inHeight) pixels = Pass(pixels, inWidth, inHeight, height, horizontal: false);
        return new RgbImage(width, height, pixels);
    }

    /// <summary>One 1-D resampling pass along rows (horizontal) or columns.</summary>
    private static byte[] Pass(byte[] source, int width, int height, int outSize, bool horizontal)
    {
        int inSize = horizontal ? width : height;
        (int First, double[] Weights)[] taps = Taps(inSize, outSize);
        int outWidth = horizontal ? outSize : width, outHeight = horizontal ? height : outSize;
        var result = new byte[outWidth * outHeight * 3];
        Parallel.For(0, outHeight, y =>
        {
            for (int x = 0; x < outWidth; x++)
            {
                (int first, double[] weights) = taps[horizontal ? x : y];
                for (int c = 0; c < 3; c++)
                {
                    double sum = 0;
                    for (int k = 0; k < weights.Length; k++)
                    {
                        int sx = horizontal ? first + k : x, sy = horizontal ? y : first + k;
                        sum += weights[k] * source[(sy * width + sx) * 3 + c];
                    }
                    result[(y * outWidth + x) * 3 + c] = (byte)Math.Clamp(Math.Floor(sum + 0.5), 0, 255);
                }
            }
        });
        return result;
    }

    /// <summary>For each output sample: the first input sample it reads and the normalised weights of the window.</summary>
    private static (int First, double[] Weights)[] Taps(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = Support * filterScale;
        var taps = new (int, double[])[outSize];
        for (int o = 0; o < outSize; o++)
        {
            double center = (o + 0.5) * scale;
            int first = Math.Max((int)(center - support + 0.5), 0);
            int last = Math.Min((int)(center + support + 0.5), inSize);
            var weights = new double[Math.Max(last - first, 0)];
            double total = 0;
            for (int i = 0; i < weights.Length; i++)
            {
                weights[i] = Cubic((first + i - center + 0.5) / filterScale);
                total += weights[i];
            }
            if (total != 0)
                for (int i = 0; i < weights.Length; i++) weights[i] /= total;
            taps[o] = (first, weights);
        }
        return taps;
    }

    /// <summary>Keys' cubic convolution kernel with a = −0.5.</summary>
    private static double Cubic(double x)
    {
        x = Math.Abs(x);
        if (x < 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
        if (x < 2) return (((x - 5) * x + 8) * x - 4) * A;
        return 0;
    }
}
