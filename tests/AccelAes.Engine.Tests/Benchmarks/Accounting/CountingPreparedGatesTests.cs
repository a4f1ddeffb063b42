using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Benchmarks.Accounting;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Benchmarks.Accounting;

/// <summary>
/// Gates prepared once per block (issue 16, FLUX launches), counted by hand: one <c>gated_epilogue_vectors_x4</c> for up to
/// four gates, and the gated projections that use them launch their matmul only.
/// </summary>
public class CountingPreparedGatesTests
{
    private static TrafficClass Single(TrafficTotals t, string kernel) => Assert.Single(t.Classes, c => c.Kernel == kernel);

    [Fact]
    public void Four_gates_are_one_launch_and_their_projections_make_no_vectors()
    {
        using var be = new CountingBackend();
        var r = be.PlaceholderWeight(new Shape(2, 3, 5), "r");   // B 2, S 3, N 5: m = 6
        var x = be.PlaceholderWeight(new Shape(2, 3, 4), "x");   // K 4
        var w = be.PlaceholderWeight(new Shape(5, 4), "w");
        var b = be.PlaceholderWeight(new Shape(5), "b");
        var g = Enumerable.Range(0, 4).Select(i => be.PlaceholderWeight(new Shape(2, 5), $"g{i}")).ToArray();
        be.Ledger.Take();

        var prepared = be.PrepareGates([(g[0], b), (g[1], b), (g[2], null), (g[3], b)]);
        var t = be.Ledger.Take();
        // Four parts of B·N = 10: gates 4·2·10 and three biases 3·2·5 read; alphas 4·4·10 and three gated biases 3·2·10 written.
        var vectors = Single(t, "gated_epilogue_vectors_x4");
        Assert.Equal(("PrepareGates", TrafficKind.MemoryBound, 80L + 30, 160L + 60, 1L),
            (vectors.Op, vectors.Kind, vectors.BytesRead, vectors.BytesWritten, vectors.Launches));
        Assert.Equal(1, t.Launches);

        be.LinearAddPreparedGateInPlace(r, x, w, prepared[0]);
        var u = be.Ledger.Take();
        // As LinearAddGatedInPlace's matmul (CountingResidualPathTests): x 48, w 40, gated bias 20, alpha 40, residual 60 read.
        var gemm = Assert.Single(u.Classes);
        Assert.Equal(("LinearAddGatedInPlace", "cuBLASLt matmul (gated residual)", 48L + 40 + 20 + 40 + 60, 60L, 1L),
            (gemm.Op, gemm.Kernel, gemm.BytesRead, gemm.BytesWritten, gemm.Launches));

        // Rows 1…2 of x [2, 4, 128]: 256 bytes per row keep the first row and the batch stride aligned (cuBLASLt in place).
        var xr = be.PlaceholderWeight(new Shape(2, 4, 128), "xr");
        var wr = be.PlaceholderWeight(new Shape(5, 128), "wr");
        var rr = be.PlaceholderWeight(new Shape(2, 2, 5), "rr");
        var rowsGate = be.PrepareGates([(g[0], null)]);
        be.Ledger.Take();
        be.LinearOfRowsAddPreparedGateInPlace(rr, xr, 1, 2, wr, rowsGate[0]);
        var v = Assert.Single(be.Ledger.Take().Classes);
        Assert.Equal(("LinearOfRowsAddGatedInPlace", "cuBLASLt matmul (gated residual)", 1L), (v.Op, v.Kernel, v.Launches));
    }

    [Fact]
    public void Five_gates_are_two_launches_and_gemm_cu_needs_none()
    {
        using var be = new CountingBackend();
        var g = Enumerable.Range(0, 5).Select(i => be.PlaceholderWeight(new Shape(1, 8), $"g{i}")).ToArray();
        be.Ledger.Take();
        be.PrepareGates(g.Select(x => (x, (Tensor?)null)).ToArray());
        var t = be.Ledger.Take();
        Assert.Equal((2L, 2L * 5 * 8, 4L * 5 * 8), (t.Launches, t.Classes.Sum(c => c.BytesRead), t.Classes.Sum(c => c.BytesWritten)));

        using var cu = new CountingBackend(CountedGemmEngine.GemmCu);
        var r = cu.PlaceholderWeight(new Shape(1, 3, 8), "r");
        var x = cu.PlaceholderWeight(new Shape(1, 3, 4), "x");
        var w = cu.PlaceholderWeight(new Shape(8, 4), "w");
        var gate = cu.PlaceholderWeight(new Shape(1, 8), "g");
        cu.Ledger.Take();
        var prepared = cu.PrepareGates([(gate, null)]);
        Assert.Equal(0, cu.Ledger.Take().Launches);
        cu.LinearAddPreparedGateInPlace(r, x, w, prepared[0]);
        // gemm.cu's fused GEMM reads the gate itself: x 24, w 64, gate 16, residual 48 read.
        var gemm = Assert.Single(cu.Ledger.Take().Classes);
        Assert.Equal(("gemm_bf16_add_gated", 24L + 64 + 16 + 48, 1L), (gemm.Kernel, gemm.BytesRead, gemm.Launches));
    }

    [Fact]
    public void Prepared_gates_check_their_shapes_and_their_backend()
    {
        using var be = new CountingBackend();
        using var other = new CountingBackend();
        var g = be.PlaceholderWeight(new Shape(2, 5), "g");
        Assert.Throws<ArgumentException>(() => be.PrepareGates([]));
        Assert.Contains("match gate 0", Assert.Throws<ArgumentException>(() => be.PrepareGates([(g, null), (be.PlaceholderWeight(new Shape(2, 6), "h"), null)])).Message);
        Assert.Contains("bias 0", Assert.Throws<ArgumentException>(() => be.PrepareGates([(g, be.PlaceholderWeight(new Shape(4), "b"))])).Message);
        var prepared = other.PrepareGates([(other.PlaceholderWeight(new Shape(2, 5), "g"), null)]);
        var r = be.PlaceholderWeight(new Shape(2, 3, 5), "r");
        Assert.Contains("another backend", Assert.Throws<ArgumentException>(() =>
            be.LinearAddPreparedGateInPlace(r, be.PlaceholderWeight(new Shape(2, 3, 4), "x"), be.PlaceholderWeight(new Shape(5, 4), "w"), prepared[0])).Message);
    }

    /// <summary>
    /// FLUX.1-dev at 1024²: one gate-vector launch per double block (19, was 4 per double block and 1 per single block: 114),
    /// one adaLN GEMM per double block, the embedders' two sums in their GEMMs, the timestep and guidance embedded together:
    /// issue 16's ≤ 630 launches per step. The single blocks keep one vector launch each (one gated projection per block).
    /// </summary>
    [Fact]
    public void Flux_dev_launches_per_step_meet_issue_16s_target()
    {
        var flux = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.FluxDev, 1024, 1));
        Assert.True(flux.DenseStep.Launches <= 630, $"{flux.DenseStep.Launches} launches per step");
        var classes = flux.Forward.Classes;
        Assert.Equal(19, Assert.Single(classes, c => c.Kernel == "gated_epilogue_vectors_x4").Launches);
        Assert.Equal(38, classes.Where(c => c.Kernel == "gated_epilogue_vectors").Sum(c => c.Launches));
        Assert.DoesNotContain(classes, c => c.Op is "Add" or "Scale" && c.Launches > 1);
        Assert.Equal(1, Assert.Single(classes, c => c.Kernel == "timestep_embedding_f32").Launches);
    }

    /// <summary>SD3-Medium: each of the 24 joint blocks prepares its gates in one launch (four gates; two in the last,
    /// context_pre_only block), none per projection: 94 launches before, 24 now.</summary>
    [Fact]
    public void Sd3_medium_prepares_each_blocks_gates_in_one_launch()
    {
        var sd3 = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.Sd3Medium, 1024, 2));
        Assert.Equal(24, Assert.Single(sd3.Forward.Classes, c => c.Kernel == "gated_epilogue_vectors_x4").Launches);
        Assert.DoesNotContain(sd3.Forward.Classes, c => c.Kernel == "gated_epilogue_vectors");
    }
}
