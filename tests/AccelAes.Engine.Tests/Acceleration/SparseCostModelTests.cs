using AccelAes.Engine.Acceleration;

namespace AccelAes.Engine.Tests.Acceleration;

public class SparseCostModelTests
{
    /// <summary>architectures.md §7: 16.0 TF (Lumina), 8.90 TF (SD3-Medium), 74.4 TF (FLUX.1) per forward at 1024².</summary>
    [Theory]
    [InlineData(Backbone.Lumina, 16000)]
    [InlineData(Backbone.Sd3, 8900)]
    [InlineData(Backbone.Flux, 74400)]
    public void Totals_match_the_architecture_notes(Backbone backbone, double gflop)
    {
        var m = SparseCostModel.For(backbone);
        Assert.InRange(m.TotalGflop, gflop * 0.99, gflop * 1.01);
        Assert.Equal(1.0, m.SparseCost(1.0), 12);
        Assert.Equal(1 - m.ScalableFraction, m.SparseCost(0.0), 12);
        Assert.True(m.SparseCost(0.3) < m.SparseCost(0.7));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.SparseCost(1.5));
    }

    [Fact]
    public void Lumina_sparse_forward_at_half_focus_costs_about_0_6()
    {
        // The paper's timings fit a sparse forward ≈ 0.6 of a dense one (accelaes-reference-code.md §2.2 C).
        var m = SparseCostModel.For(Backbone.Lumina);
        Assert.InRange(m.SparseCost(0.5), 0.57, 0.61);
        // Per layer: self q 43.49, self attention 154.62, SwiGLU 347.89 GF scale with f (§7.3).
        Assert.Equal(24 * (43.49 + 154.62 + 347.89), m.ScalableGflop, 0);
    }

    [Fact]
    public void Split_scales_with_resolution_and_text_length()
    {
        var big = SparseCostModel.LuminaNext(imageTokens: 16384);
        var small = SparseCostModel.LuminaNext(imageTokens: 1024);
        Assert.True(big.ScalableFraction > small.ScalableFraction); // quadratic self-attention grows fastest
        Assert.True(SparseCostModel.Sd3Medium(textTokens: 77).TotalGflop < SparseCostModel.Sd3Medium().TotalGflop);
        Assert.All(SparseCostModel.Flux1().Components, c => Assert.True(c.Gflop > 0, c.Name));
    }
}
