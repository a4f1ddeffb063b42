using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Benchmarks.Accounting;

/// <summary>
/// The counting rule of split-KV attention (CountingBackend.SplitKv.cs), by hand: the counted plan is the H100's, so a call
/// whose grid is a sliver of a wave is split and costs a second launch and the fp32 partials' round trip.
/// </summary>
public class CountingSplitKvTests
{
    [Fact]
    public void A_split_call_is_an_attention_launch_writing_partials_and_a_combine_launch_reading_them()
    {
        using var be = new CountingBackend();
        // 1 × 128 queries × 1 head of 32 over 1024 keys: m64 (1 CTA of 128 rows would leave SMs idle) → 2 CTAs on 132 SMs × 2
        // resident; 16 key tiles allow 4 splits of 4 tiles, and 8 CTAs are still the best of n ≤ 4 → 4 splits.
        var q = be.PlaceholderWeight(new Shape(1, 128, 1, 32), "q");
        var k = be.PlaceholderWeight(new Shape(1, 1024, 1, 32), "k");
        var v = be.PlaceholderWeight(new Shape(1, 1024, 1, 32), "v");
        be.Ledger.Take();
        be.Attention(q, k, v, 0.2f);
        var classes = be.Ledger.Take().Classes;
        Assert.Equal(2, classes.Count);
        var attention = Assert.Single(classes, c => c.Kind == TrafficKind.Attention);
        Assert.Equal(("attention (split-KV × 4)", 1L), (attention.Kernel, attention.Launches));
        Assert.Equal(2.0 * 128 * 1024 * (32 + 32), attention.Flops);
        Assert.Equal(2L * (128 * 32 + 1024 * 32 + 1024 * 32), attention.BytesRead);
        // 4 splits × 128 rows × (32 fp32 o + 1 fp32 lse).
        Assert.Equal(4L * 128 * 33 * 4, attention.BytesWritten);
        var combine = Assert.Single(classes, c => c.Kernel == "attention_splitkv_combine_bf16");
        Assert.Equal((TrafficKind.MemoryBound, 1L), (combine.Kind, combine.Launches));
        Assert.Equal(4L * 128 * 33 * 4, combine.BytesRead);
        Assert.Equal(2L * 128 * 32, combine.BytesWritten);
    }

    [Fact]
    public void The_accumulate_epilogue_reads_move_to_the_combine_and_affinity_calls_are_not_split()
    {
        using var be = new CountingBackend();
        var q = be.PlaceholderWeight(new Shape(1, 128, 1, 32), "q");
        var k = be.PlaceholderWeight(new Shape(1, 1024, 1, 32), "k");
        var dest = be.PlaceholderWeight(new Shape(1, 128, 1, 32), "dest");
        var headScale = be.Upload(new float[1], new Shape(1));
        be.Ledger.Take();
        be.AttentionAddScaledInto(dest, headScale, q, k, k, 0.2f);
        var combine = Assert.Single(be.Ledger.Take().Classes, c => c.Kernel == "attention_splitkv_combine_bf16");
        Assert.Equal(4L * 128 * 33 * 4 + 2L * 128 * 32 + 4L, combine.BytesRead); // partials, the bf16 destination, the fp32 scale

        var weights = be.Upload(new float[1024], new Shape(1, 1024));
        be.Ledger.Take();
        be.AttentionWithAffinity(q, k, k, 0.2f, weights);
        var only = Assert.Single(be.Ledger.Take().Classes);
        Assert.Equal(("attention", 2L * 128 * 32 + 4L * 128), (only.Kernel, only.BytesWritten));
    }

    [Fact]
    public void A_dense_flux_sized_call_is_one_launch_as_before()
    {
        using var be = new CountingBackend();
        var q = be.PlaceholderWeight(new Shape(1, 4608, 24, 128), "q");
        be.Ledger.Take();
        be.Attention(q, q, q, 0.1f);
        var only = Assert.Single(be.Ledger.Take().Classes);
        Assert.Equal(("attention", 2L * 4608 * 24 * 128), (only.Kernel, only.BytesWritten));
    }
}
