using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Benchmarks.Accounting;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Benchmarks.Accounting;

/// <summary>The counting rules of the FFN-path ops (issue 16), by hand, and what they change in Lumina-Next-SFT's forward.</summary>
public class CountingFfnFusionTests
{
    [Fact]
    public void SiluMul_reads_the_gate_and_up_halves_once_and_writes_half_as_many_elements()
    {
        using var be = new CountingBackend();
        var x = be.PlaceholderWeight(new Shape(2, 3, 16), "x");
        be.Ledger.Take();
        var y = be.SiluMul(x);
        Assert.Equal(new Shape(2, 3, 8), y.Shape);
        var k = Assert.Single(be.Ledger.Take().Classes);
        // 96 bf16 elements read (192 B), 48 written (96 B), one launch.
        Assert.Equal(("silu_mul_bf16", TrafficKind.MemoryBound, 192L, 96L, 1L), (k.Kernel, k.Kind, k.BytesRead, k.BytesWritten, k.Launches));
    }

    [Fact]
    public void AddScaled_reads_a_b_and_the_broadcast_scale_once()
    {
        using var be = new CountingBackend();
        var a = be.PlaceholderWeight(new Shape(2, 5, 4, 8), "a");
        var b = be.PlaceholderWeight(new Shape(2, 5, 4, 8), "b");
        var scale = be.PlaceholderWeight(new Shape(4, 8), "scale");
        be.Ledger.Take();
        be.AddScaled(a, b, scale);
        var k = Assert.Single(be.Ledger.Take().Classes);
        // a, b: 320 elements each (640 B each), scale 32 (64 B); y 320 (640 B). Multiply then Add: 2 launches, 640 + 64 + 640 more bytes.
        Assert.Equal(("add_scaled_bf16", 640L + 640 + 64, 640L, 1L), (k.Kernel, k.BytesRead, k.BytesWritten, k.Launches));
    }

    [Fact]
    public void An_fp32_scale_is_converted_first_as_the_cuda_backend_does()
    {
        using var be = new CountingBackend();
        var a = be.PlaceholderWeight(new Shape(3, 8), "a");
        var scale = be.Upload(new float[8], new Shape(8));
        be.Ledger.Take();
        be.AddScaled(a, a, scale);
        var classes = be.Ledger.Take().Classes;
        var convert = Assert.Single(classes, c => c.Kernel == "convert_f32_to_bf16");
        Assert.Equal((32L, 16L), (convert.BytesRead, convert.BytesWritten));
    }

    /// <summary>
    /// Lumina-Next-SFT's 24 SwiGLUs are one GEMM and one silu_mul each on the split path (<c>--swiglu-gemm split</c>; the fused
    /// kernel's count is CountingSwiGluTests'), and its 24 gated cross-attention sums one add_scaled:
    /// the SwiGLU multiply, the per-head gate multiply (and its fp32 → bf16 conversion of the gate) and the fp32-output
    /// SiLU pass are gone; only the timestep MLP (M = batch) keeps its fp32-output SiLU linear and the caption embedding its Add.
    /// </summary>
    [Fact]
    public void Luminas_swiglu_and_gated_cross_attention_sum_are_one_pass_each()
    {
        var r = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.LuminaNextSft, 1024, 2, SwiGlu: SwiGluGemm.Split));
        var classes = r.Forward.Classes;
        Assert.Equal(24, Assert.Single(classes, c => c.Kernel == "silu_mul_bf16").Calls);
        Assert.DoesNotContain(classes, c => c.Kernel == "add_scaled_bf16"); // since Fusion 8, in attn2's epilogue (CountingAttentionAccumulateTests)
        Assert.DoesNotContain(classes, c => c.Kernel == "mul_broadcast_bf16");
        Assert.DoesNotContain(classes, c => c.Op == "Multiply");
        Assert.Equal(1, Assert.Single(classes, c => c.Kernel == "activate_f32_to_bf16").Calls);
        Assert.Equal(1, Assert.Single(classes, c => c.Kernel == "add_broadcast_bf16").Calls);
    }
}
