using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Benchmarks.Accounting;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Benchmarks.Accounting;

/// <summary>
/// The counting rule of AttentionAddScaledInto (the attention kernel's accumulate epilogue), by hand, and what it changes in
/// Lumina-Next-SFT's forward (docs/perf/accounting-after.md, Fusion 8).
/// </summary>
public class CountingAttentionAccumulateTests
{
    [Fact]
    public void AttentionAddScaledInto_is_one_attention_launch_that_also_reads_the_destination_and_the_head_scale()
    {
        using var be = new CountingBackend();
        var q = be.PlaceholderWeight(new Shape(2, 6, 4, 8), "q");
        var k = be.PlaceholderWeight(new Shape(2, 9, 2, 8), "k");
        var v = be.PlaceholderWeight(new Shape(2, 9, 2, 16), "v");
        var dest = be.PlaceholderWeight(new Shape(2, 6, 4, 16), "dest");
        var headScale = be.Upload(new float[4], new Shape(4));
        be.Ledger.Take();
        be.AttentionAddScaledInto(dest, headScale, q, k, v, 0.3f);
        var a = Assert.Single(be.Ledger.Take().Classes);
        Assert.Equal((AttentionAccumulate.Name, TrafficKind.Attention, 1L), (a.Op, a.Kind, a.Launches));
        Assert.Equal(2.0 * 2 * 4 * 6 * 9 * (8 + 16), a.Flops);
        // q 384, k 288, v 576 elements (bf16); the destination's 768 elements (bf16) and the fp32 head scale's 4 more read.
        Assert.Equal(2L * (384 + 288 + 576) + 2L * 768 + 4L * 4, a.BytesRead);
        Assert.Equal(2L * 768, a.BytesWritten);
    }

    [Fact]
    public void A_bf16_head_scale_is_widened_first_as_the_cuda_backend_does()
    {
        using var be = new CountingBackend();
        var q = be.PlaceholderWeight(new Shape(1, 3, 2, 8), "q");
        var dest = be.PlaceholderWeight(new Shape(1, 3, 2, 8), "dest");
        var headScale = be.PlaceholderWeight(new Shape(2), "scale");
        be.Ledger.Take();
        be.AttentionAddScaledInto(dest, headScale, q, q, q, 0.3f);
        var classes = be.Ledger.Take().Classes;
        var widen = Assert.Single(classes, c => c.Kernel == "convert_bf16_to_f32");
        Assert.Equal((4L, 8L), (widen.BytesRead, widen.BytesWritten));
        Assert.Single(classes, c => c.Kind == TrafficKind.Attention);
    }

    [Fact]
    public void The_destination_must_have_the_attentions_output_shape_and_the_scale_one_factor_per_head()
    {
        using var be = new CountingBackend();
        var q = be.PlaceholderWeight(new Shape(1, 3, 2, 8), "q");
        var wrongDest = be.PlaceholderWeight(new Shape(1, 3, 16), "dest");
        var dest = be.PlaceholderWeight(new Shape(1, 3, 2, 8), "dest2");
        var scale = be.Upload(new float[2], new Shape(2));
        var wrongScale = be.Upload(new float[16], new Shape(2, 8));
        var e = Assert.Throws<ArgumentException>(() => be.AttentionAddScaledInto(wrongDest, scale, q, q, q, 1f));
        Assert.Contains("output shape [1, 3, 2, 8]", e.Message);
        e = Assert.Throws<ArgumentException>(() => be.AttentionAddScaledInto(dest, wrongScale, q, q, q, 1f));
        Assert.Contains("one factor per query head", e.Message);
    }

    /// <summary>
    /// Lumina-Next-SFT at 1024²: each of the 24 blocks' cross-attentions adds into the self-attention output (one attention
    /// launch with the accumulate epilogue), so no add_scaled_bf16 pass remains, and the forward's memory-bound traffic
    /// drops by that pass's bytes (the cross output is neither written by the attention nor read back).
    /// </summary>
    [Fact]
    public void Luminas_cross_attention_adds_into_the_self_attention_output_without_an_add_scaled_pass()
    {
        var r = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.LuminaNextSft, 1024, 2));
        var classes = r.Forward.Classes;
        Assert.DoesNotContain(classes, c => c.Kernel == "add_scaled_bf16");
        // Since Fusion 15 the add-into attention also normalises its shared query as it loads it (QueryOnLoadOp.AccumulateName).
        var accumulate = Assert.Single(classes, c => c.Op == QueryOnLoadOp.AccumulateName);
        Assert.Equal(24, accumulate.Calls);
        Assert.Equal(TrafficKind.Attention, accumulate.Kind);
    }
}
