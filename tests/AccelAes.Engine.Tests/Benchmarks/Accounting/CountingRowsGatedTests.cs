using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Benchmarks.Accounting;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Benchmarks.Accounting;

/// <summary>
/// The counting rule of LinearOfRowsAddGatedInPlace (Fusion 6, issue 16), counted by hand: the rows are read where they
/// are (no Slice copy) when they keep 256-byte alignment, and sliced first when they do not.
/// </summary>
public class CountingRowsGatedTests
{
    private static TrafficClass Single(TrafficTotals t, string kernel) => Assert.Single(t.Classes, c => c.Kernel == kernel);

    [Fact]
    public void Aligned_rows_on_cublaslt_are_the_gate_vectors_and_one_matmul_without_a_slice()
    {
        using var be = new CountingBackend();
        // B 2, S 6, rows [2, 5): count 3; K 64 (a row is 128 bytes: the first row at 512 bytes, the batch stride 768 bytes).
        var r = be.PlaceholderWeight(new Shape(2, 3, 5), "r");
        var x = be.PlaceholderWeight(new Shape(2, 6, 64), "x");
        var w = be.PlaceholderWeight(new Shape(5, 64), "w");
        var b = be.PlaceholderWeight(new Shape(5), "b");
        var g = be.PlaceholderWeight(new Shape(2, 5), "g");
        be.Ledger.Take();

        be.LinearOfRowsAddGatedInPlace(r, x, 2, 3, w, b, g);
        var t = be.Ledger.Take();

        Assert.DoesNotContain(t.Classes, c => c.Op == "Slice");
        // gated_epilogue_vectors over B·N = 10: gate 2·10 + bias 2·5 read; alpha 4·10 + gated bias 2·10 written.
        var vectors = Single(t, "gated_epilogue_vectors");
        Assert.Equal((20L + 10, 40L + 20, 1L), (vectors.BytesRead, vectors.BytesWritten, vectors.Launches));
        // The matmul over m = 2·3 rows: x 2·6·64, w 2·5·64, gated bias 2·10, alpha 4·10, residual 2·30 read; 2·30 written.
        var gemm = Single(t, "cuBLASLt matmul (gated residual)");
        Assert.Equal((768L + 640 + 20 + 40 + 60, 60L, 2.0 * 6 * 5 * 64, 1L), (gemm.BytesRead, gemm.BytesWritten, gemm.Flops, gemm.Launches));
        Assert.Equal(2, t.Launches);
    }

    [Fact]
    public void Rows_off_the_alignment_are_sliced_first()
    {
        using var be = new CountingBackend();
        // K 40: the first of rows [3, 7) is at 240 bytes.
        var r = be.PlaceholderWeight(new Shape(1, 4, 8), "r");
        var x = be.PlaceholderWeight(new Shape(1, 7, 40), "x");
        var w = be.PlaceholderWeight(new Shape(8, 40), "w");
        be.Ledger.Take();
        be.LinearOfRowsAddGatedInPlace(r, x, 3, 4, w, null, null);
        var t = be.Ledger.Take();
        // Booked under the op itself: CudaBackend slices and projects inside it.
        Assert.All(t.Classes, c => Assert.Equal("LinearOfRowsAddGatedInPlace", c.Op));
        var slice = Assert.Single(t.Classes, c => c.Kernel == "memcpy");
        Assert.Equal((TrafficKind.DeviceCopy, 2L * 4 * 40, 2L * 4 * 40), (slice.Kind, slice.BytesRead, slice.BytesWritten));
        Assert.Equal(1, t.Launches);   // the matmul (no gate: no vectors); the copy is a driver copy, not a launch
    }

    [Fact]
    public void On_gemm_cu_it_is_one_fused_launch_per_batch_item()
    {
        using var be = new CountingBackend(CountedGemmEngine.GemmCu);
        var r = be.PlaceholderWeight(new Shape(2, 3, 5), "r");
        var x = be.PlaceholderWeight(new Shape(2, 6, 64), "x");
        var w = be.PlaceholderWeight(new Shape(5, 64), "w");
        var b = be.PlaceholderWeight(new Shape(5), "b");
        var g = be.PlaceholderWeight(new Shape(2, 5), "g");
        be.Ledger.Take();
        be.LinearOfRowsAddGatedInPlace(r, x, 2, 3, w, b, g);
        var gemm = Assert.Single(be.Ledger.Take().Classes);
        // Per item: its rows 2·3·64, w 2·5·64, bias 2·5, its gate row 2·5, its residual block 2·15 read; 2·15 written.
        Assert.Equal(("gemm_bf16_add_gated", 2 * (384L + 640 + 10 + 10 + 30), 2 * 30L, 2L),
            (gemm.Kernel, gemm.BytesRead, gemm.BytesWritten, gemm.Launches));
    }
}
