using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Benchmarks.Accounting;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Benchmarks.Accounting;

/// <summary>The counting rule of LayerNormModulate (issue 16's third fusion), by hand, and its effect on the real configurations.</summary>
public class CountingLayerNormModulateTests
{
    [Fact]
    public void One_row_kernel_reads_x_and_the_vectors_once_and_writes_y_once()
    {
        using var be = new CountingBackend();
        var x = be.PlaceholderWeight(new Shape(2, 3, 8), "x");
        var scale = be.PlaceholderWeight(new Shape(2, 8), "scale");
        var shift = be.PlaceholderWeight(new Shape(2, 8), "shift");
        be.Ledger.Take();
        var y = be.LayerNormModulate(x, 1e-6f, scale, shift);
        var k = Assert.Single(be.Ledger.Take().Classes);
        Assert.Equal(new Shape(2, 3, 8), y.Shape);
        // 48 elements: x 2·48 + scale 2·16 + shift 2·16 read, y 2·48 written, one launch (LayerNorm then Modulate: 2 and 2·96 more).
        Assert.Equal(("layernorm_modulate_bf16", TrafficKind.MemoryBound, 96L + 32 + 32, 96L, 1L), (k.Kernel, k.Kind, k.BytesRead, k.BytesWritten, k.Launches));
    }

    [Fact]
    public void RmsNormModulate_reads_the_weight_too()
    {
        using var be = new CountingBackend();
        var x = be.PlaceholderWeight(new Shape(2, 3, 8), "x");
        var w = be.PlaceholderWeight(new Shape(8), "w");
        var scale = be.PlaceholderWeight(new Shape(2, 8), "scale");
        be.Ledger.Take();
        be.RmsNormModulate(x, 1e-5f, w, scale, null);
        var k = Assert.Single(be.Ledger.Take().Classes);
        Assert.Equal(("rmsnorm_modulate_bf16", 96L + 16 + 32, 96L, 1L), (k.Kernel, k.BytesRead, k.BytesWritten, k.Launches));
    }

    /// <summary>
    /// Lumina's 48 RMSNorm + modulate pairs (and its final LayerNorm's) are one kernel each: no modulate_bf16 is left. The 24
    /// FFN-input ones ride in the attention branch's residual kernel (rmsnorm_add_tanh_gated_modulate_bf16, residual path),
    /// and the norm1s of layers 1–23 in the previous layer's FFN residual kernel (the same kernel): one rmsnorm_modulate_bf16 is left.
    /// </summary>
    [Fact]
    public void Luminas_blocks_modulate_inside_their_rmsnorm()
    {
        var r = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.LuminaNextSft, 1024, 2));
        Assert.DoesNotContain(r.Forward.Classes, c => c.Kernel == "modulate_bf16");
        Assert.Equal(1, Assert.Single(r.Forward.Classes, c => c.Kernel == "rmsnorm_modulate_bf16").Calls);
        Assert.Equal(24 + 23, Assert.Single(r.Forward.Classes, c => c.Kernel == "rmsnorm_add_tanh_gated_modulate_bf16").Calls);
    }

    /// <summary>
    /// Every adaLN LayerNorm of FLUX.1-dev and SD3-Medium now runs with its modulation in one kernel: the separate layernorm_bf16 and
    /// modulate_bf16 passes are gone (4.35 + 4.36 GB and 2.66 + 2.66 GB in docs/perf/accounting-before.md).
    /// </summary>
    [Theory]
    [InlineData("flux-dev")]
    [InlineData("sd3-medium")]
    public void The_dit_blocks_no_longer_run_layernorm_and_modulate_apart(string arch)
    {
        var config = arch == "flux-dev" ? RealConfigs.FluxDev : RealConfigs.Sd3Medium;
        var r = AccountingBenchmark.Run(new AccountingRequest(config, 1024, arch == "flux-dev" ? 1 : 2));
        Assert.DoesNotContain(r.Forward.Classes, c => c.Kernel is "layernorm_bf16" or "modulate_bf16");
        Assert.Contains(r.Forward.Classes, c => c.Kernel == "layernorm_modulate_bf16");
    }
}
