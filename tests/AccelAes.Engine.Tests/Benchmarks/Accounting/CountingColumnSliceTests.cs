using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Benchmarks.Accounting;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Benchmarks.Accounting;

/// <summary>
/// The counting rules of the column-slice ops (issue 16's first fusion), by hand: Allocate moves nothing, LinearInto and
/// AttentionInto move what Linear and Attention do and write no separate output, and FLUX's single blocks no longer copy
/// cat(attention, mlp).
/// </summary>
public class CountingColumnSliceTests
{
    [Fact]
    public void Allocate_launches_and_moves_nothing()
    {
        using var be = new CountingBackend();
        be.Ledger.Take();
        var t = be.Allocate(new Shape(4, 1000));
        Assert.Equal(DType.BF16, t.DType);
        Assert.Empty(be.Ledger.Take().Classes);
    }

    [Theory]
    [InlineData(Activation.None)]
    [InlineData(Activation.GeluTanh)]
    public void LinearInto_with_a_cublaslt_epilogue_is_the_one_matmul_writing_the_slice(Activation activation)
    {
        using var be = new CountingBackend();
        var x = be.PlaceholderWeight(new Shape(6, 4), "x");
        var w = be.PlaceholderWeight(new Shape(5, 4), "w");
        var b = be.PlaceholderWeight(new Shape(5), "b");
        var dest = be.Allocate(new Shape(6, 9));
        be.Ledger.Take();
        be.LinearInto(dest, 2, x, w, b, activation);
        var t = be.Ledger.Take();
        var gemm = Assert.Single(t.Classes);
        // m = 6, n = 5, k = 4: x 2·24 + w 2·20 + bias 2·5 read, 2·30 written into the slice; nothing memory-bound.
        Assert.Equal(("LinearInto", TrafficKind.Gemm, 48L + 40 + 10, 60L, 1L), (gemm.Op, gemm.Kind, gemm.BytesRead, gemm.BytesWritten, gemm.Launches));
        Assert.Equal(0, t.MemoryBoundBytes);
    }

    [Theory]
    [InlineData(9, 2L)]  // a slice of a wider buffer: activate into a dense temporary, then a driver 2D copy (no launch)
    [InlineData(5, 2L)]  // the destination is exactly the output: activate writes it
    public void LinearInto_with_an_unfused_activation_copies_into_a_slice_only_when_the_destination_is_wider(int columns, long launches)
    {
        using var be = new CountingBackend();
        var x = be.PlaceholderWeight(new Shape(6, 4), "x");
        var w = be.PlaceholderWeight(new Shape(5, 4), "w");
        var dest = be.Allocate(new Shape(6, columns));
        be.Ledger.Take();
        be.LinearInto(dest, columns - 5, x, w, null, Activation.Silu);
        var t = be.Ledger.Take();
        Assert.Equal(launches, t.Launches);
        var activate = Assert.Single(t.Classes, c => c.Kernel == "activate_f32_to_bf16");
        Assert.Equal((120L, 60L), (activate.BytesRead, activate.BytesWritten));
        var copies = t.Classes.Where(c => c.Kernel == "memcpy2d").ToList();
        if (columns == 5)
            Assert.Empty(copies);
        else
            Assert.Equal((60L, 60L, 0L), (copies.Single().BytesRead, copies.Single().BytesWritten, copies.Single().Launches));
    }

    [Fact]
    public void AttentionInto_reads_each_operand_once_and_writes_only_the_slice()
    {
        using var be = new CountingBackend();
        var q = be.PlaceholderWeight(new Shape(2, 6, 4, 8), "q");
        var k = be.PlaceholderWeight(new Shape(2, 9, 2, 8), "k");
        var v = be.PlaceholderWeight(new Shape(2, 9, 2, 16), "v");
        var dest = be.Allocate(new Shape(2, 6, 3 + 64 + 10));
        be.Ledger.Take();
        be.AttentionInto(dest, 3, q, k, v, 0.3f);
        var a = Assert.Single(be.Ledger.Take().Classes);
        Assert.Equal(("AttentionInto", TrafficKind.Attention, 1L), (a.Op, a.Kind, a.Launches));
        Assert.Equal(2.0 * 2 * 4 * 6 * 9 * (8 + 16), a.Flops);
        Assert.Equal(2L * (384 + 288 + 576), a.BytesRead);
        Assert.Equal(2L * 2 * 6 * 64, a.BytesWritten);   // the slice: 2 · 6 tokens · 4 heads · 16
    }

    [Fact]
    public void A_slice_that_does_not_fit_is_refused_as_on_the_devices()
    {
        using var be = new CountingBackend();
        var x = be.PlaceholderWeight(new Shape(6, 4), "x");
        var w = be.PlaceholderWeight(new Shape(5, 4), "w");
        var e = Assert.Throws<ArgumentException>(() => be.LinearInto(be.Allocate(new Shape(6, 9)), 5, x, w, null));
        Assert.Equal("LinearInto: columns [5, 10) do not fit the 9 columns of destination [6, 9].", e.Message);
    }

    /// <summary>
    /// FLUX.1-dev at 1024²: the 38 single blocks' Concat(2, attn, mlp) was 10.76 GB of copy2d per forward
    /// (docs/perf/accounting-before.md); attention and proj_mlp now write their slices, so no Concat launches a copy2d.
    /// </summary>
    [Fact]
    public void Fluxs_single_blocks_no_longer_copy_the_attention_and_mlp_into_one_buffer()
    {
        var flux = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.FluxDev, 1024, 1));
        Assert.DoesNotContain(flux.Forward.Classes, c => c.Op == "Concat" && c.Kernel is "copy2d_b16" or "memcpy2d");
        // Fusion 7: the single blocks' attention reads the packed QKV buffer in place and writes the slice (AttentionPackedInto).
        Assert.Equal(38, Assert.Single(flux.Forward.Classes, c => c.Op == "AttentionPackedInto").Calls);
        Assert.Equal(38, Assert.Single(flux.Forward.Classes, c => c.Op == "LinearInto").Calls);
        Assert.True(flux.Forward.MemoryBoundBytes < 33.5e9, $"{flux.Forward.MemoryBoundBytes} bytes"); // 43.53 GB before, less the 10.76 GB copy
    }
}
