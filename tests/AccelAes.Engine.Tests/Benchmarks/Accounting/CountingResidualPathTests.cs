using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Benchmarks.Accounting;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Benchmarks.Accounting;

/// <summary>
/// The counting rules of the residual-path ops (issue 16), counted by hand: the gated residual rides in the GEMM (C read,
/// D written) or in one row kernel, so the residual crosses memory once instead of in a separate add_gated pass.
/// </summary>
public class CountingResidualPathTests
{
    private static TrafficClass Single(TrafficTotals t, string kernel) => Assert.Single(t.Classes, c => c.Kernel == kernel);

    [Fact]
    public void LinearAddGatedInPlace_on_cublaslt_is_the_gate_vectors_and_one_matmul_reading_the_residual()
    {
        using var be = new CountingBackend();
        var r = be.PlaceholderWeight(new Shape(2, 3, 5), "r");   // B 2, S 3, N 5: m = 6
        var x = be.PlaceholderWeight(new Shape(2, 3, 4), "x");   // K 4
        var w = be.PlaceholderWeight(new Shape(5, 4), "w");
        var b = be.PlaceholderWeight(new Shape(5), "b");
        var g = be.PlaceholderWeight(new Shape(2, 5), "g");
        be.Ledger.Take();

        be.LinearAddGatedInPlace(r, x, w, b, g);
        var t = be.Ledger.Take();

        // gated_epilogue_vectors over B·N = 10: gate 2·10 + bias 2·5 read; alpha 4·10 (fp32) + gated bias 2·10 written.
        var vectors = Single(t, "gated_epilogue_vectors");
        Assert.Equal((TrafficKind.MemoryBound, 20L + 10, 40L + 20, 1L), (vectors.Kind, vectors.BytesRead, vectors.BytesWritten, vectors.Launches));
        // The matmul: x 2·24, w 2·20, gated bias 2·10, alpha 4·10, residual (C) 2·30 read; the residual (D) 2·30 written.
        var gemm = Single(t, "cuBLASLt matmul (gated residual)");
        Assert.Equal((TrafficKind.Gemm, 48L + 40 + 20 + 40 + 60, 60L, 2.0 * 6 * 5 * 4, 1L),
            (gemm.Kind, gemm.BytesRead, gemm.BytesWritten, gemm.Flops, gemm.Launches));
        Assert.Equal(2, t.Launches);
        Assert.Equal(90, t.MemoryBoundBytes);   // no add_gated pass: only the two small vectors
    }

    [Fact]
    public void LinearAddGatedInPlace_without_a_gate_needs_no_vectors()
    {
        using var be = new CountingBackend();
        var r = be.PlaceholderWeight(new Shape(6, 5), "r");
        var x = be.PlaceholderWeight(new Shape(6, 4), "x");
        var w = be.PlaceholderWeight(new Shape(5, 4), "w");
        var b = be.PlaceholderWeight(new Shape(5), "b");
        be.Ledger.Take();
        be.LinearAddGatedInPlace(r, x, w, b, null);
        var gemm = Assert.Single(be.Ledger.Take().Classes);
        Assert.Equal(("cuBLASLt matmul (gated residual)", 48L + 40 + 10 + 60, 60L, 1L), (gemm.Kernel, gemm.BytesRead, gemm.BytesWritten, gemm.Launches));
    }

    [Fact]
    public void LinearAddGatedInPlace_on_gemm_cu_is_one_launch_reading_gate_and_bias_itself()
    {
        using var be = new CountingBackend(CountedGemmEngine.GemmCu);
        var r = be.PlaceholderWeight(new Shape(2, 3, 5), "r");
        var x = be.PlaceholderWeight(new Shape(2, 3, 4), "x");
        var w = be.PlaceholderWeight(new Shape(5, 4), "w");
        var b = be.PlaceholderWeight(new Shape(5), "b");
        var g = be.PlaceholderWeight(new Shape(2, 5), "g");
        be.Ledger.Take();
        be.LinearAddGatedInPlace(r, x, w, b, g);
        var gemm = Assert.Single(be.Ledger.Take().Classes);
        Assert.Equal(("gemm_bf16_add_gated", 48L + 40 + 10 + 20 + 60, 60L, 1L), (gemm.Kernel, gemm.BytesRead, gemm.BytesWritten, gemm.Launches));
    }

    [Fact]
    public void LinearAddGatedInPlace_with_an_fp32_residual_is_linear_then_add_gated_f32()
    {
        using var be = new CountingBackend();
        var r = be.Upload(new float[2 * 3 * 5], new Shape(2, 3, 5));
        var x = be.PlaceholderWeight(new Shape(2, 3, 4), "x");
        var w = be.PlaceholderWeight(new Shape(5, 4), "w");
        var g = be.PlaceholderWeight(new Shape(2, 5), "g");
        be.Ledger.Take();
        be.LinearAddGatedInPlace(r, x, w, null, g);
        var t = be.Ledger.Take();
        Assert.Equal(48L + 40, Single(t, "cuBLASLt matmul").BytesRead);
        // add_gated_f32: the residual 4·30 read and written, the product 2·30 and the gate 2·10 read.
        var add = Single(t, "add_gated_f32");
        Assert.Equal((120L + 60 + 20, 120L), (add.BytesRead, add.BytesWritten));
    }

    [Fact]
    public void RmsNormAddTanhGatedInPlace_is_one_row_kernel_moving_the_residual_once()
    {
        using var be = new CountingBackend();
        var r = be.PlaceholderWeight(new Shape(2, 3, 8), "r");
        var y = be.PlaceholderWeight(new Shape(2, 3, 8), "y");
        var w = be.PlaceholderWeight(new Shape(8), "w");
        var g = be.PlaceholderWeight(new Shape(2, 8), "g");
        be.Ledger.Take();
        be.RmsNormAddTanhGatedInPlace(r, y, 1e-5f, w, g);
        var kernel = Assert.Single(be.Ledger.Take().Classes);
        // residual 2·48 + y 2·48 + weight 2·8 + gate 2·16 read; residual 2·48 written; one launch.
        Assert.Equal(("rmsnorm_add_tanh_gated_bf16", 96L + 96 + 16 + 32, 96L, 1L), (kernel.Kernel, kernel.BytesRead, kernel.BytesWritten, kernel.Launches));
    }

    [Fact]
    public void RmsNormAddTanhGatedThenModulate_saves_the_second_read_of_the_residual_and_a_launch()
    {
        using var be = new CountingBackend();
        var r = be.PlaceholderWeight(new Shape(2, 3, 8), "r");
        var y = be.PlaceholderWeight(new Shape(2, 3, 8), "y");
        var w = be.PlaceholderWeight(new Shape(8), "w");
        var w2 = be.PlaceholderWeight(new Shape(8), "w2");
        var g = be.PlaceholderWeight(new Shape(2, 8), "g");
        var scale = be.PlaceholderWeight(new Shape(2, 8), "scale");
        be.Ledger.Take();
        var output = be.RmsNormAddTanhGatedThenModulate(r, y, 1e-5f, w, g, 1e-6f, w2, scale, null);
        var kernel = Assert.Single(be.Ledger.Take().Classes);
        Assert.Equal(new Shape(2, 3, 8), output.Shape);
        // residual 2·48 + y 2·48 + w 2·8 + gate 2·16 + w2 2·8 + scale 2·16 read; residual 2·48 and the output 2·48 written.
        Assert.Equal(("rmsnorm_add_tanh_gated_modulate_bf16", 96L + 96 + 16 + 32 + 16 + 32, 96L + 96, 1L),
            (kernel.Kernel, kernel.BytesRead, kernel.BytesWritten, kernel.Launches));
    }
}
