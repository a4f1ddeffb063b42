using AccelAes.Kernels.Compilation;
using Xunit.Abstractions;

namespace AccelAes.Kernels.Tests;

/// <summary>
/// The flash attention kernel keeps Q fragments, S and the O accumulators in registers; a spill would put them
/// in local memory and cost most of its speed. The generic compile tests check sm_80 (and report sm_89); this
/// checks the H100's own target, which is what `KernelCompiler.ChooseArchitecture` picks there with NVRTC ≥ 11.8.
/// </summary>
public class AttentionKernelBuildTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void FlashAttention_FitsInRegisters_OnSm90()
    {
        Requirements.Nvrtc();
        var compiler = new KernelCompiler(cache: null);
        Skip.IfNot(compiler.Supports(GpuArchitecture.Sm(90)), $"NVRTC {compiler.Nvrtc.Version} cannot target sm_90");
        var module = compiler.Compile("attention.cu", GpuArchitecture.Sm(90));
        Assert.Equal(["attention_fwd_d128_bf16", "attention_fwd_d32_bf16", "attention_fwd_d64_bf16", "attention_fwd_d80_bf16"],
            module.Resources.Select(r => r.Kernel).Order());
        foreach (var r in module.Resources)
        {
            output.WriteLine($"{r.Kernel}: {r.Registers} registers, stack {r.StackFrameBytes} B, spills {r.SpillStoreBytes}/{r.SpillLoadBytes} B ({module.CompileTime.TotalSeconds:0.0} s)");
            Assert.False(r.Spills, $"{r.Kernel} spills on sm_90");
            Assert.Equal(0, r.StackFrameBytes);
        }
    }
}
