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

    [Theory]
    [InlineData(Backbone.Lumina)]
    [InlineData(Backbone.Sd3)]
    [InlineData(Backbone.Flux)]
    public void Attention_only_sparsity_costs_more_than_attention_plus_ffn(Backbone backbone)
    {
        // Paper Table 7: with sparse_ffn off the FFN runs on every token, so less of a forward shrinks with f.
        var on = SparseCostModel.For(AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, backbone));
        var off = SparseCostModel.For(AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, backbone).With("sparse_ffn", "off"));
        Assert.True(on.SparseFeedForward);
        Assert.False(off.SparseFeedForward);
        Assert.Equal(on.TotalGflop, off.TotalGflop, 9);
        Assert.Equal(on.Components, off.Components);
        double ffn = on.Components.Where(c => c.NeedsSparseFeedForward).Sum(c => c.Gflop);
        Assert.True(ffn > 0);
        Assert.Equal(on.ScalableGflop - ffn, off.ScalableGflop, 6);
        Assert.True(off.ScalableGflop > 0, "attention still scales");
        foreach (double f in new[] { 0.0, 0.3, 0.5, 0.9 })
            Assert.True(off.SparseCost(f) > on.SparseCost(f), $"f = {f}: off {off.SparseCost(f)} vs on {on.SparseCost(f)}");
        Assert.Equal(1.0, off.SparseCost(1.0), 12);
        Assert.Same(off, off.WithSparseFeedForward(false));
        Assert.Equal(on.ScalableGflop, off.WithSparseFeedForward(true).ScalableGflop, 9);
    }

    [Fact]
    public void Attention_only_sparsity_leaves_lumina_the_query_projection_and_self_attention()
    {
        // §7.3 per layer: self q 43.49 and self attention 154.62 GF still scale; the SwiGLU's 347.89 no longer does.
        var off = SparseCostModel.For(Backbone.Lumina).WithSparseFeedForward(false);
        Assert.Equal(24 * (43.49 + 154.62), off.ScalableGflop, 0);
    }

    [Fact]
    public void Attention_only_sparsity_keeps_flux_single_stream_proj_out_dense_but_not_the_double_stream_to_out()
    {
        // A single block's proj_out takes cat(attention, MLP): with a dense MLP branch it runs on every row; a double
        // block's to_out follows the attention alone, so it stays sparse.
        var flux = SparseCostModel.Flux1();
        var off = flux.WithSparseFeedForward(false);
        FlopComponent Named(string name) => flux.Components.Single(c => c.Name == name);
        Assert.True(Named("image attention-output projection").Scales(sparseFeedForward: false));
        Assert.False(Named("image attention-output projection (single-stream proj_out)").Scales(sparseFeedForward: false));
        Assert.True(Named("image attention-output projection (single-stream proj_out)").Scales(sparseFeedForward: true));
        Assert.False(Named("image MLP").Scales(sparseFeedForward: false));
        // The split of the attention-output projection keeps FLUX's total: 19 + 38 blocks × 2·N·D².
        double n = 4096, d = 3072;
        Assert.Equal(57 * 2 * n * d * d * 1e-9,
            Named("image attention-output projection").Gflop + Named("image attention-output projection (single-stream proj_out)").Gflop, 3);
        Assert.Equal(1e-9 * (57 * (2 * n * d * d + 4 * n * (n + 512) * d) + 19 * 2 * n * d * d), off.ScalableGflop, 3);
        Assert.DoesNotContain(SparseCostModel.Sd3Medium().Components, c => c.Name.Contains("single-stream", StringComparison.Ordinal));
    }
}
