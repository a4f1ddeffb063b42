using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Engine.Evaluation.EdgeDensity;

/// <summary>
/// Edge density as the AccelAes evaluation script computes it (xuanhuayin/AccelAes scripts/eval_metrics.py,
/// <c>compute_edge_density</c>, commit e769ec199fb477839f216637af6e52aea5f94f40): PIL grayscale / 255 in float32,
/// <c>scipy.ndimage.convolve</c> with the Scharr kernels Sx = [[-3,0,3],[-10,0,10],[-3,0,3]] and Sy = Sxᵀ in
/// scipy's default mode <c>reflect</c> (d c b a | a b c d | d c b a: the edge sample repeated), magnitude
/// √(gx² + gy²), mean over every pixel. A structural-detail proxy: the paper reads a lower value as smoother,
/// less detailed images.
///
/// Precision follows scipy and numpy: scipy sums each convolution in double and stores float32; the squares,
/// their sum and the root are float32 as numpy computes them on float32 arrays. Only the mean is accumulated in
/// double here (numpy's float32 pairwise sum differs from it in the 7th digit at most).
/// </summary>
public sealed class EdgeDensityMetric : IImageMetric
{
    public const string MetricName = "edge_density";

    // scipy.ndimage.convolve flips the kernel (a true convolution): out[i, j] = Σ in[i − u, j − v] · k[u + 1, v + 1].
    private static readonly float[,] Sx = { { -3, 0, 3 }, { -10, 0, 10 }, { -3, 0, 3 } };
    private static readonly float[,] Sy = { { -3, -10, -3 }, { 0, 0, 0 }, { 3, 10, 3 } };

    public string Name => MetricName;

    public bool UsesPrompt => false;

    public double Score(RgbImage image, string prompt) => Compute(image);

    /// <summary>The edge density of <paramref name="image"/> (no prompt needed).</summary>
    public static double Compute(RgbImage image)
    {
        int w = image.Width, h = image.Height;
        byte[] luma = PilGrayscale.Convert(image);
        var gray = new float[luma.Length];
        for (int i = 0; i < gray.Length; i++) gray[i] = luma[i] / 255f;

        double sum = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                float gx = Convolve(gray, w, h, x, y, Sx);
                float gy = Convolve(gray, w, h, x, y, Sy);
                sum += MathF.Sqrt(gx * gx + gy * gy);
            }
        return sum / ((double)w * h);
    }

    private static float Convolve(float[] gray, int w, int h, int x, int y, float[,] kernel)
    {
        double acc = 0;
        for (int u = -1; u <= 1; u++)
            for (int v = -1; v <= 1; v++)
                acc += gray[Reflect(y - u, h) * w + Reflect(x - v, w)] * (double)kernel[u + 1, v + 1];
        return (float)acc;
    }

    /// <summary>scipy's <c>reflect</c> mode for the one-sample overhang a 3 × 3 kernel needs: index −1 is 0, n is n − 1.</summary>
    private static int Reflect(int i, int n) => i < 0 ? Math.Min(-i - 1, n - 1) : i >= n ? Math.Max(2 * n - i - 1, 0) : i;

    public void Dispose()
    {
        // Nothing held: edge density is pure arithmetic on the pixels.
    }
}
