using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Engine.Evaluation.Fidelity;

/// <summary>
/// The structural similarity index of Wang, Bovik, Sheikh and Simoncelli (2004) with their published constants, as
/// scikit-image computes it with <c>structural_similarity(x, y, data_range=255, gaussian_weights=True, sigma=1.5,
/// use_sample_covariance=False)</c>: local means, variances and covariance under a Gaussian window of σ 1.5 truncated
/// at radius 5 (11 × 11, <c>truncate=3.5</c>), borders extended by reflection (<c>gaussian_filter</c>'s mode
/// <c>reflect</c>), K1 = 0.01, K2 = 0.03, L = 255; the SSIM map averaged over the pixels at least 5 from every border
/// (skimage crops the half window). On one plane: luma Y = 0.299 R + 0.587 G + 0.114 B (ITU-R 601, as floats).
/// </summary>
public static class Ssim
{
    public const double Sigma = 1.5;
    public const int Radius = 5;
    private const double K1 = 0.01, K2 = 0.03, DataRange = 255;

    /// <summary>The luma plane SSIM compares (floats, 0–255).</summary>
    public static double[] Luma(RgbImage image)
    {
        var y = new double[image.Width * image.Height];
        byte[] p = image.Pixels;
        for (int i = 0; i < y.Length; i++) y[i] = 0.299 * p[3 * i] + 0.587 * p[3 * i + 1] + 0.114 * p[3 * i + 2];
        return y;
    }

    /// <summary>The 1-D window: exp(−x² / 2σ²) for |x| ≤ <see cref="Radius"/>, normalised to sum 1.</summary>
    public static double[] Window()
    {
        var w = new double[2 * Radius + 1];
        for (int i = -Radius; i <= Radius; i++) w[i + Radius] = Math.Exp(-i * i / (2 * Sigma * Sigma));
        double sum = w.Sum();
        for (int i = 0; i < w.Length; i++) w[i] /= sum;
        return w;
    }

    /// <summary>Mean SSIM of planes <paramref name="x"/> and <paramref name="y"/> (width × height, row-major).</summary>
    /// <exception cref="AccelAesException">A side shorter than the 11-pixel window (skimage refuses those too).</exception>
    public static double Compute(double[] x, double[] y, int width, int height)
    {
        int side = 2 * Radius + 1;
        if (width < side || height < side)
            throw new AccelAesException($"SSIM needs images of at least {side}×{side} pixels (its Gaussian window); this one is {width}×{height}.");
        double[] window = Window();
        int n = width * height;
        var xx = new double[n];
        var yy = new double[n];
        var xy = new double[n];
        for (int i = 0; i < n; i++)
        {
            xx[i] = x[i] * x[i];
            yy[i] = y[i] * y[i];
            xy[i] = x[i] * y[i];
        }
        double[] mx = Filter(x, width, height, window), my = Filter(y, width, height, window);
        double[] sxx = Filter(xx, width, height, window), syy = Filter(yy, width, height, window), sxy = Filter(xy, width, height, window);
        double c1 = K1 * DataRange * K1 * DataRange, c2 = K2 * DataRange * K2 * DataRange;
        double sum = 0;
        int count = 0;
        for (int r = Radius; r < height - Radius; r++)
            for (int c = Radius; c < width - Radius; c++)
            {
                int i = r * width + c;
                double vx = sxx[i] - mx[i] * mx[i], vy = syy[i] - my[i] * my[i], cov = sxy[i] - mx[i] * my[i];
                sum += (2 * mx[i] * my[i] + c1) * (2 * cov + c2) / ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2));
                count++;
            }
        return sum / count;
    }

    /// <summary>Separable Gaussian filter, rows then columns, with scipy's <c>reflect</c> extension (d c b a | a b c d).</summary>
    private static double[] Filter(double[] plane, int width, int height, double[] window)
    {
        var rows = new double[plane.Length];
        for (int r = 0; r < height; r++)
            for (int c = 0; c < width; c++)
            {
                double acc = 0;
                for (int k = -Radius; k <= Radius; k++) acc += window[k + Radius] * plane[r * width + Reflect(c + k, width)];
                rows[r * width + c] = acc;
            }
        var result = new double[plane.Length];
        for (int r = 0; r < height; r++)
            for (int c = 0; c < width; c++)
            {
                double acc = 0;
                for (int k = -Radius; k <= Radius; k++) acc += window[k + Radius] * rows[Reflect(r + k, height) * width + c];
                result[r * width + c] = acc;
            }
        return result;
    }

    /// <summary>Reflect mode for overhangs up to the side length (the window radius is below the smallest accepted side).</summary>
    internal static int Reflect(int i, int n) => i < 0 ? -i - 1 : i >= n ? 2 * n - i - 1 : i;
}
