using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Benchmarks.Accounting;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Benchmarks.Accounting;

/// <summary>The counting rule of LinearSwiGlu (issue 16, Fusion 11) by hand, per knob value, and what it changes in Lumina-Next-SFT.</summary>
public class CountingSwiGluTests
{
    private static IReadOnlyList<TrafficClass> Count(SwiGluGemm mode, int k)
    {
        using var be = new CountingBackend { SwiGluGemm = mode };
        var x = be.PlaceholderWeight(new Shape(2, 3, k), "x");
        var w = be.PlaceholderWeight(new Shape(16, k), "w");
        be.Ledger.Take();
        var y = be.LinearSwiGlu(x, w);
        Assert.Equal(new Shape(2, 3, 8), y.Shape);
        return be.Ledger.Take().Classes;
    }

    [Theory]
    [InlineData(SwiGluGemm.Fused)]
    [InlineData(SwiGluGemm.Auto)]
    public void The_fused_kernel_is_one_gemm_whose_output_is_half_as_wide(SwiGluGemm mode)
    {
        // M = 6 rows, K = 16, N = 2F = 16: x 96 bf16 (192 B) and the weight 256 (512 B) read, y [6, 8] (96 B) written,
        // 2·6·16·16 = 3072 FLOPs, one launch, no memory-bound pass.
        var k = Assert.Single(Count(mode, 16));
        Assert.Equal(("LinearSwiGlu", "gemm_swiglu_bf16", TrafficKind.Gemm, 704L, 96L, 3072.0, 1L),
            (k.Op, k.Kernel, k.Kind, k.BytesRead, k.BytesWritten, k.Flops, k.Launches));
    }

    [Fact]
    public void The_split_path_is_the_gemm_of_2f_then_silu_mul()
    {
        var classes = Count(SwiGluGemm.Split, 16);
        Assert.Equal(2, classes.Count);
        var gemm = Assert.Single(classes, c => c.Kind == TrafficKind.Gemm);
        // The same operands and FLOPs; the output [6, 16] (192 B), which silu_mul reads back to write [6, 8] (96 B).
        Assert.Equal(("cuBLASLt matmul", 704L, 192L, 3072.0, 1L), (gemm.Kernel, gemm.BytesRead, gemm.BytesWritten, gemm.Flops, gemm.Launches));
        var silu = Assert.Single(classes, c => c.Kind == TrafficKind.MemoryBound);
        Assert.Equal(("LinearSwiGlu", "silu_mul_bf16", 192L, 96L, 1L), (silu.Op, silu.Kernel, silu.BytesRead, silu.BytesWritten, silu.Launches));
    }

    [Fact]
    public void K_not_a_multiple_of_8_is_counted_on_the_split_path_as_the_cuda_backend_runs_it()
    {
        var classes = Count(SwiGluGemm.Fused, 12);
        Assert.Contains(classes, c => c.Kernel == "silu_mul_bf16");
        Assert.DoesNotContain(classes, c => c.Kernel == "gemm_swiglu_bf16");
    }

    /// <summary>
    /// Lumina-Next-SFT at 1024², CFG batch 2: 24 feed-forwards over M = 2 × 4096 rows, F = 6144. The fused kernel removes
    /// silu_mul's 6·M·F bytes per call (read [M, 2F], write [M, F]) — 24 × 6 × 8192 × 6144 = 7,247,757,312 B — and its 24
    /// launches; the GEMM writes [M, F] instead of [M, 2F] (2·M·F = 100,663,296 B less per call).
    /// </summary>
    [Fact]
    public void Luminas_fused_swiglu_drops_the_silu_mul_pass_and_half_the_gemm_output()
    {
        var fused = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.LuminaNextSft, 1024, 2, SwiGlu: SwiGluGemm.Fused)).Forward;
        var split = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.LuminaNextSft, 1024, 2, SwiGlu: SwiGluGemm.Split)).Forward;
        Assert.Equal(24, Assert.Single(fused.Classes, c => c.Kernel == "gemm_swiglu_bf16").Calls);
        Assert.DoesNotContain(fused.Classes, c => c.Kernel == "silu_mul_bf16");
        Assert.Equal(24L * 6 * 8192 * 6144, split.MemoryBoundBytes - fused.MemoryBoundBytes);
        Assert.Equal(24, split.Launches - fused.Launches);
        Assert.Equal(24L * 2 * 8192 * 6144, split.GemmBytes - fused.GemmBytes);
        Assert.Equal(split.GemmFlops, fused.GemmFlops);
    }
}
