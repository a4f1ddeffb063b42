using AccelAes.Engine.Evaluation.Fidelity;
using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Engine.Tests.Evaluation;

/// <summary>PSNR and SSIM against hand-computed values and against a direct, unseparated evaluation of the definition.</summary>
public class SsimTests
{
    private static RgbImage Gray(int width, int height, Func<int, int, byte> value)
    {
        var pixels = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                pixels[(y * width + x) * 3] = pixels[(y * width + x) * 3 + 1] = pixels[(y * width + x) * 3 + 2] = value(x, y);
        return new RgbImage(width, height, pixels);
    }

    [Fact]
    public void Psnr_of_a_uniform_offset_is_twenty_log_of_255_over_the_offset()
    {
        var a = Gray(16, 12, (x, y) => (byte)(x * 7 + y));
        var b = Gray(16, 12, (x, y) => (byte)(x * 7 + y + 5));
        Assert.Equal(20 * Math.Log10(255.0 / 5), ImageFidelity.Psnr(b, a), 10);
        Assert.Equal(double.PositiveInfinity, ImageFidelity.Psnr(a, a));
    }

    [Fact]
    public void Two_flat_images_compare_by_their_luminance_term_only()
    {
        // Flat: σ = 0 everywhere, so SSIM = (2ab + C1) / (a² + b² + C1) · (C2 / C2), C1 = (0.01·255)².
        double c1 = 0.01 * 255 * 0.01 * 255;
        double expected = (2.0 * 100 * 140 + c1) / (100.0 * 100 + 140.0 * 140 + c1);
        Assert.Equal(expected, ImageFidelity.Ssim(Gray(20, 15, (_, _) => 100), Gray(20, 15, (_, _) => 140)), 10);
        Assert.Equal(1.0, ImageFidelity.Ssim(Gray(20, 15, (x, y) => (byte)(x * y)), Gray(20, 15, (x, y) => (byte)(x * y))), 12);
    }

    [Fact]
    public void The_separable_filter_equals_the_two_dimensional_window_with_reflected_borders()
    {
        // The definition computed directly: a 2-D Gaussian window (outer product of the normalised 1-D one) over
        // reflected neighbours, local statistics, the SSIM formula, averaged over pixels ≥ 5 from every border.
        const int w = 17, h = 14;
        var rng = new Random(7);
        double[] x = [.. Enumerable.Range(0, w * h).Select(_ => (double)rng.Next(256))];
        double[] y = [.. x.Select(v => Math.Clamp(v + rng.Next(-40, 41), 0, 255))];
        double[] g = Ssim.Window();
        double c1 = Math.Pow(0.01 * 255, 2), c2 = Math.Pow(0.03 * 255, 2), sum = 0;
        int count = 0;
        static int Reflect(int i, int n) => i < 0 ? -i - 1 : i >= n ? 2 * n - i - 1 : i;
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++)
            {
                double mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0;
                for (int dr = -5; dr <= 5; dr++)
                    for (int dc = -5; dc <= 5; dc++)
                    {
                        int i = Reflect(r + dr, h) * w + Reflect(c + dc, w);
                        double k = g[dr + 5] * g[dc + 5];
                        mx += k * x[i]; my += k * y[i]; sxx += k * x[i] * x[i]; syy += k * y[i] * y[i]; sxy += k * x[i] * y[i];
                    }
                if (r < 5 || c < 5 || r >= h - 5 || c >= w - 5) continue;
                double vx = sxx - mx * mx, vy = syy - my * my, cov = sxy - mx * my;
                sum += (2 * mx * my + c1) * (2 * cov + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2));
                count++;
            }
        Assert.Equal(sum / count, Ssim.Compute(x, y, w, h), 10);
    }

    [Fact]
    public void The_window_is_the_normalised_gaussian_of_sigma_one_and_a_half()
    {
        double[] g = Ssim.Window();
        Assert.Equal(11, g.Length);
        Assert.Equal(1.0, g.Sum(), 12);
        Assert.Equal(Math.Exp(-1 / (2 * 1.5 * 1.5)), g[6] / g[5], 12);
    }

    [Fact]
    public void Images_smaller_than_the_window_are_refused_by_name()
    {
        var e = Assert.Throws<AccelAesException>(() => ImageFidelity.Ssim(Gray(10, 20, (_, _) => 1), Gray(10, 20, (_, _) => 1)));
        Assert.Contains("11×11", e.Message);
    }
}
