using AccelAes.Kernels.Compilation;
using Xunit.Abstractions;

namespace AccelAes.Kernels.Tests;

/// <summary>
/// The flash attention kernel keeps Q fragments, S and the O accumulators in registers; a spill would put them
/// in local memory and cost most of its speed. Every variant (m64: 4 warps, m128: 8 warps; see attention.cu) at
/// every padded head dim must fit in registers on the real targets the engine runs on: sm_80 (A100), sm_86 / sm_89
/// (RTX 30 / 40) and sm_90 (H100, what `KernelCompiler.ChooseArchitecture` picks there with NVRTC ≥ 11.8).
/// </summary>
public class AttentionKernelBuildTests(ITestOutputHelper output)
{
    private static readonly string[] Entries =
        [.. from dp in new[] { 32, 64, 80, 128 } from variant in new[] { "m64", "m128" } select $"attention_fwd_d{dp}_{variant}_bf16"];

    [SkippableTheory]
    [InlineData(80)]
    [InlineData(86)]
    [InlineData(89)]
    [InlineData(90)]
    public void FlashAttention_EveryVariantFitsInRegisters(int sm)
    {
        Requirements.Nvrtc();
        var compiler = new KernelCompiler(cache: null);
        Skip.IfNot(compiler.Nvrtc.CanEmitCubin, $"NVRTC {compiler.Nvrtc.Version} has no nvrtcGetCUBIN");
        Skip.IfNot(compiler.Supports(GpuArchitecture.Sm(sm)), $"NVRTC {compiler.Nvrtc.Version} cannot target sm_{sm}");
        var module = compiler.Compile("attention.cu", GpuArchitecture.Sm(sm));
        Assert.Equal(Entries.Order(), module.Resources.Select(r => r.Kernel).Order());
        foreach (var r in module.Resources.OrderBy(r => r.Kernel))
        {
            output.WriteLine($"sm_{sm} {r.Kernel}: {r.Registers} registers, stack {r.StackFrameBytes} B, spills {r.SpillStoreBytes}/{r.SpillLoadBytes} B");
            Assert.False(r.Spills, $"{r.Kernel} spills on sm_{sm}");
            Assert.Equal(0, r.StackFrameBytes);
        }
        output.WriteLine($"compile time {module.CompileTime.TotalSeconds:0.0} s");
    }
}
