using AccelAes.Engine.Models.Flux;

namespace AccelAes.Engine.Tests.Models;

/// <summary>FluxPosEmbed against the naive formula: pair j of axis a turns by pos_a · θ^(−2j/d_a).</summary>
public class FluxPosEmbedTests
{
    [Theory]
    [InlineData(new[] { 16, 56, 56 })]
    [InlineData(new[] { 4, 6, 6 })]
    [InlineData(new[] { 2, 0, 10, 4 })]
    public void Table_matches_the_naive_formula_for_arbitrary_positions(int[] axes)
    {
        var embed = new FluxPosEmbed(10000, axes);
        int rows = 7;
        float[] ids = TestData.Random(rows * axes.Length, 3, -40f, 90f);
        var (cos, sin) = embed.Compute(ids, rows);
        Assert.Equal(rows * axes.Sum() / 2, cos.Length);
        for (int s = 0; s < rows; s++)
        {
            int p = 0;
            for (int a = 0; a < axes.Length; a++)
                for (int j = 0; j < axes[a] / 2; j++, p++)
                {
                    double angle = ids[s * axes.Length + a] * Math.Pow(10000.0, -2.0 * j / axes[a]);
                    Assert.Equal((float)Math.Cos(angle), cos[s * embed.Pairs + p], 6);
                    Assert.Equal((float)Math.Sin(angle), sin[s * embed.Pairs + p], 6);
                }
        }
    }

    [Fact]
    public void Text_ids_of_zero_do_not_rotate()
    {
        var (cos, sin) = new FluxPosEmbed(10000, [4, 6, 6]).Compute(new float[5 * 3], 5);
        Assert.All(cos, c => Assert.Equal(1f, c));
        Assert.All(sin, s => Assert.Equal(0f, s));
    }

    [Fact]
    public void Image_ids_of_a_non_square_grid_rotate_row_and_column_axes_separately()
    {
        // A 2×3 grid: token 5 is (row 1, column 2). Axis 0 (always 0) never rotates; axis 1 turns by the row,
        // axis 2 by the column, each with its own frequencies.
        var embed = new FluxPosEmbed(10000, [4, 6, 6]);
        var (_, sin) = embed.Compute(Pipelines.FluxLatentPacking.LatentImageIds(2, 3), 6);
        int row = 5 * embed.Pairs;
        Assert.Equal(0f, sin[row + 0]);
        Assert.Equal(0f, sin[row + 1]);
        Assert.Equal((float)Math.Sin(1.0), sin[row + 2]);
        Assert.Equal((float)Math.Sin(2.0), sin[row + 5]);
        Assert.Equal((float)Math.Sin(2.0 * Math.Pow(10000.0, -2.0 / 6)), sin[row + 6]);
    }
}
