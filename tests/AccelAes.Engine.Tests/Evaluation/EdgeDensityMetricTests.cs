using AccelAes.Engine.Evaluation.EdgeDensity;
using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Engine.Tests.Evaluation;

/// <summary>
/// Edge density against values worked out by hand. With columns only varying, the Scharr x kernel convolved (scipy
/// flips it) gives gx[j] = 16·(g[j−1] − g[j+1]) (column weights 3 + 10 + 3) and gy = 0.
/// </summary>
public class EdgeDensityMetricTests
{
    private static RgbImage Image(int width, int height, Func<int, int, (byte R, byte G, byte B)> color)
    {
        var pixels = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                (pixels[(y * width + x) * 3], pixels[(y * width + x) * 3 + 1], pixels[(y * width + x) * 3 + 2]) = color(x, y);
        return new RgbImage(width, height, pixels);
    }

    [Fact]
    public void A_flat_image_has_no_edges_even_at_its_borders()
    {
        // Reflect mode repeats the edge sample: a white image stays flat there (zero padding would find a border of edges).
        Assert.Equal(0, EdgeDensityMetric.Compute(Image(7, 5, (_, _) => (255, 255, 255))));
    }

    [Fact]
    public void A_vertical_black_to_white_step_is_sixteen_on_the_two_columns_beside_it()
    {
        // 8 columns, white from column 4: |gx| = 16 at columns 3 and 4, 0 elsewhere → mean 32 / 8 = 4.
        Assert.Equal(4.0, EdgeDensityMetric.Compute(Image(8, 6, (x, _) => x >= 4 ? ((byte)255, (byte)255, (byte)255) : ((byte)0, (byte)0, (byte)0))), 6);
    }

    [Fact]
    public void A_horizontal_step_gives_the_same_density_through_the_y_kernel()
    {
        Assert.Equal(4.0, EdgeDensityMetric.Compute(Image(6, 8, (_, y) => y >= 4 ? ((byte)255, (byte)255, (byte)255) : ((byte)0, (byte)0, (byte)0))), 6);
    }

    [Fact]
    public void A_step_at_the_border_is_seen_through_the_reflected_sample()
    {
        // Only column 0 white, width 8: j = 0 sees g[−1] = g[0] = 1 and g[1] = 0 → 16; j = 1: 16·(1 − 0) = 16; mean 32 / 8.
        Assert.Equal(4.0, EdgeDensityMetric.Compute(Image(8, 3, (x, _) => x == 0 ? ((byte)255, (byte)255, (byte)255) : ((byte)0, (byte)0, (byte)0))), 6);
    }

    [Fact]
    public void Colour_goes_through_pils_fixed_point_luma()
    {
        // Pure red: (255·19595 + 32768) >> 16 = 76 (the 299/587/114 formula would give 77). Step of 76/255 → 4·76/255.
        Assert.Equal(76, PilGrayscale.Luma(255, 0, 0));
        Assert.Equal(150, PilGrayscale.Luma(0, 255, 0)); // (255·38470 + 32768) >> 16 = 150.18…
        Assert.Equal(29, PilGrayscale.Luma(0, 0, 255)); // (255·7471 + 32768) >> 16 = 29.57…
        double density = EdgeDensityMetric.Compute(Image(8, 4, (x, _) => x >= 4 ? ((byte)255, (byte)0, (byte)0) : ((byte)0, (byte)0, (byte)0)));
        Assert.Equal(4.0 * (float)(76 / 255f), density, 6);
    }

    [Fact]
    public void A_diagonal_neighbourhood_combines_both_kernels_in_the_magnitude()
    {
        // 3×3, only the centre lit (value 1). A corner pixel sees it diagonally, through the kernels' corner weights:
        // |gx| = |gy| = 3, magnitude √18. A side pixel sees it straight across, through a ±10 weight of one kernel and
        // the 0 of the other: 10. The centre sees only dark neighbours: 0. Reflection maps −1 → 0 and 3 → 2, never onto
        // the lit centre. Mean = (4·√18 + 4·10) / 9.
        var image = Image(3, 3, (x, y) => x == 1 && y == 1 ? ((byte)255, (byte)255, (byte)255) : ((byte)0, (byte)0, (byte)0));
        Assert.Equal((4 * Math.Sqrt(18) + 40) / 9, EdgeDensityMetric.Compute(image), 5);
    }
}
