using System.Text;
using AccelAes.Kernels.Compilation;
using AccelAes.Kernels.Interop;
using Xunit.Abstractions;

namespace AccelAes.Kernels.Tests;

/// <summary>
/// Every kernel source compiles with the NVRTC present, for every architecture the engine ships for.
/// This is the check CI runs without a GPU (with Debian's libnvrtc11.2).
/// </summary>
public class KernelCompileTests(ITestOutputHelper output)
{
    public static TheoryData<string, string> BaselineTargets()
    {
        var data = new TheoryData<string, string>();
        foreach (var file in KernelSources.Files)
            foreach (var arch in new[] { "compute_80", "compute_86", "compute_89", "compute_90" })
                data.Add(file.FileName, arch);
        return data;
    }

    public static TheoryData<string, string> NewerTargets()
    {
        var data = new TheoryData<string, string>();
        foreach (var file in KernelSources.Files)
            foreach (var arch in new[] { "sm_90a", "compute_100", "sm_100", "compute_120", "sm_120" })
                data.Add(file.FileName, arch);
        return data;
    }

    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (var file in KernelSources.Files)
            data.Add(file.FileName);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(BaselineTargets))]
    public void EveryKernel_CompilesToPtx(string file, string arch)
    {
        Requirements.Nvrtc();
        var architecture = GpuArchitecture.Parse(arch);
        var module = new KernelCompiler(cache: null).Compile(file, architecture);
        Report(module);

        Assert.Equal(KernelImageKind.Ptx, module.ImageKind);
        Assert.Equal(0, module.Image[^1]); // cuModuleLoadData wants a NUL-terminated PTX
        var ptx = module.PtxText!;
        Assert.Contains($".target sm_{architecture.Number}", ptx);
        // The catalog (read from the source) and the PTX's entry symbols must agree exactly.
        var catalog = KernelCatalog.All.Where(k => k.SourceFile == file).Select(k => k.Name).Order().ToArray();
        Assert.NotEmpty(catalog);
        Assert.Equal(catalog, KernelCatalog.PtxEntries(ptx).Order().ToArray());
        Assert.Empty(module.Warnings);
    }

    [SkippableTheory]
    [MemberData(nameof(NewerTargets))]
    public void EveryKernel_CompilesForNewerArchitectures_WhenNvrtcListsThem(string file, string arch)
    {
        Requirements.Nvrtc();
        var compiler = new KernelCompiler(cache: null);
        var architecture = GpuArchitecture.Parse(arch);
        Skip.IfNot(compiler.Supports(architecture),
            $"NVRTC {compiler.Nvrtc.Version} does not support {arch} (nvrtcGetSupportedArchs: {string.Join(", ", compiler.Nvrtc.SupportedArchitectures)})");
        var module = compiler.Compile(file, architecture);
        Report(module);
        Assert.True(module.Image.Length > 0);
    }

    [SkippableTheory]
    [MemberData(nameof(Files))]
    public void RealArchitecture_GivesCubinAndResourceUsagePerKernel(string file)
    {
        Requirements.Nvrtc();
        var compiler = new KernelCompiler(cache: null);
        Skip.IfNot(compiler.Nvrtc.CanEmitCubin, $"NVRTC {compiler.Nvrtc.Version} has no nvrtcGetCUBIN");
        var module = compiler.Compile(file, GpuArchitecture.Sm(80));
        Report(module);

        Assert.Equal(KernelImageKind.Cubin, module.ImageKind);
        Assert.Equal("\u007fELF"u8.ToArray(), module.Image[..4]);
        Assert.True(module.PtxBytes > 0);
        var kernels = KernelCatalog.All.Where(k => k.SourceFile == file).Select(k => k.Name).Order().ToArray();
        Assert.Equal(kernels, module.Resources.Select(r => r.Kernel).Order().ToArray());
        Assert.All(module.Resources, r =>
        {
            Assert.InRange(r.Registers, 1, 255);
            Assert.False(r.Spills, $"{r.Kernel} spills");
        });
    }

    [SkippableFact]
    public void SyntaxError_GivesKernelCompileException_WithLogAndFileName()
    {
        Requirements.Nvrtc();
        var broken = new KernelSource("broken_kernel.cu",
            "#include \"common.cuh\"\nextern \"C\" __global__ void broken_f32(float* x) {\n    x[0] = ;\n}\n");
        var e = Assert.Throws<KernelCompileException>(() => new KernelCompiler(cache: null).Compile(broken, GpuArchitecture.Compute(80)));
        output.WriteLine(e.Message);
        Assert.Contains("broken_kernel.cu", e.Message);
        Assert.Contains("compute_80", e.Message);
        Assert.Contains("NVRTC_ERROR_COMPILATION", e.Message);
        Assert.Contains("broken_kernel.cu(3)", e.Log); // NVRTC's own diagnostic, with the line
        Assert.Contains("error", e.Log);
        Assert.Contains(e.Log.Trim(), e.Message);
        Assert.IsAssignableFrom<AccelAesException>(e);
    }

    [SkippableFact]
    public void UnsupportedArchitecture_IsAnErrorNamingTheArchitecture()
    {
        Requirements.Nvrtc();
        var compiler = new KernelCompiler(cache: null);
        var target = new[] { GpuArchitecture.Sm(120), new GpuArchitecture(90, false, "a"), GpuArchitecture.Sm(130) }
            .FirstOrDefault(a => !compiler.Supports(a));
        Skip.If(target == default, "this NVRTC supports every architecture we would try");
        var e = Assert.Throws<AccelAesException>(() => compiler.CompileAll(target));
        Assert.Contains(target.ToString(), e.Message);
        Assert.Contains(compiler.Nvrtc.Version, e.Message);
    }

    [SkippableFact]
    public void NvrtcWarnings_AreReturnedNotPrinted()
    {
        Requirements.Nvrtc();
        var source = new KernelSource("warns.cu",
            "#include \"common.cuh\"\nextern \"C\" __global__ void warns_f32(float* x) { int unused_variable; x[0] = 1.0f; }\n");
        var module = new KernelCompiler(cache: null).Compile(source, GpuArchitecture.Compute(80));
        var warning = Assert.Single(module.Warnings);
        Assert.Contains("unused_variable", warning);
        Assert.Contains("warns.cu", warning);
    }

    [SkippableFact]
    public void CompileAll_ReportsEveryFile()
    {
        Requirements.Nvrtc();
        var reports = new KernelCompiler(cache: null).CompileAll("compute_80");
        Assert.Equal(KernelSources.Files.Select(f => f.FileName), reports.Select(r => r.SourceFile));
        foreach (var r in reports)
        {
            output.WriteLine($"{r.SourceFile,-12} {r.Architecture,-11} {r.CompileTime.TotalMilliseconds,7:0.0} ms  PTX {r.PtxBytes,6} B  kernels: {string.Join(", ", r.Kernels)}");
            Assert.True(r.Succeeded, r.Error);
            Assert.True(r.PtxBytes > 0);
            Assert.NotEmpty(r.Kernels);
            Assert.True(r.CompileTime > TimeSpan.Zero);
            Assert.Equal(CacheOutcome.Disabled, r.Cache);
        }
    }

    [SkippableFact]
    public void CompileAll_ForRealArchitecture_ReportsRegisters()
    {
        Requirements.Nvrtc();
        var reports = new KernelCompiler(cache: null).CompileAll(GpuArchitecture.Sm(89));
        foreach (var r in reports)
        {
            Assert.True(r.Succeeded, r.Error);
            Assert.NotNull(r.CubinBytes);
            Assert.Equal(r.Kernels.Order(), r.Resources.Select(x => x.Kernel).Order());
            foreach (var k in r.Resources)
                output.WriteLine($"{r.SourceFile,-12} sm_89 {k.Kernel,-22} {k.Registers,3} regs  stack {k.StackFrameBytes} B  spills {k.SpillStoreBytes}/{k.SpillLoadBytes} B");
        }
    }

    [SkippableFact]
    public void FastMath_IsAChoice_AndChangesTheOptions()
    {
        Requirements.Nvrtc();
        var compiler = new KernelCompiler(cache: null);
        var precise = compiler.Compile("convert.cu", GpuArchitecture.Compute(80));
        var fast = compiler.Compile("convert.cu", GpuArchitecture.Compute(80), new KernelCompileOptions { FastMath = true });
        Assert.DoesNotContain("--use_fast_math", precise.Options);
        Assert.Contains("--use_fast_math", fast.Options);
        Assert.DoesNotContain("-lineinfo", precise.Options); // a profiling choice (ACCELAES_KERNEL_LINEINFO), off by default
        Assert.Contains("-lineinfo", compiler.Compile("convert.cu", GpuArchitecture.Compute(80), new KernelCompileOptions { LineInfo = true }).Options);
        Assert.Contains("-DACCELAES_ARCH=80", precise.Options);
        Assert.Contains("-std=c++17", precise.Options);
        Assert.NotEqual(precise.CacheKey, fast.CacheKey);
    }

    private void Report(CompiledModule m) =>
        output.WriteLine($"{m.SourceFile} {m.Architecture}: {m.CompileTime.TotalMilliseconds:0.0} ms, PTX {m.PtxBytes} B, image {m.ImageKind} {m.Image.Length} B, NVRTC {m.NvrtcVersion}"
                         + (m.Log.Length > 0 ? "\n" + m.Log.TrimEnd() : ""));
}

public class KernelCatalogTests
{
    [Fact]
    public void Catalog_ListsTheKernelsOfEachFamily()
    {
        var byName = KernelCatalog.All.ToDictionary(k => k.Name);
        Assert.Equal("convert", byName["convert_f32_to_bf16"].Family);
        Assert.Equal("convert", byName["convert_bf16_to_f32"].Family);
        Assert.Equal("convert", byName["convert_f16_to_bf16"].Family);
        Assert.Equal("fill", byName["fill_f32"].Family);
        Assert.Equal("fill", byName["fill_bf16"].Family);
        Assert.Equal("binary", byName["add_bf16"].Family);
        Assert.Equal("binary.cu", byName["add_bf16"].SourceFile);
        Assert.Equal(KernelCatalog.All.Count, byName.Count); // names are unique across files
    }

    [Fact]
    public void Catalog_IgnoresCommentedOutEntries_AndHandlesLaunchBounds()
    {
        var source = new KernelSource("x.cu", """
            // extern "C" __global__ void not_me(
            /* extern "C" __global__ void nor_me(float* x) {}
               */
            extern "C" __global__ void first_f32(float* x) {}
            extern "C" __global__ __launch_bounds__(256, 2) void second_bf16(float* x) {}
            __global__ void internal_only(float* x) {}
            """);
        Assert.Equal(["first_f32", "second_bf16"], KernelCatalog.EntriesOf(source).Select(e => e.Name));
    }

    [Fact]
    public void EveryKernelFile_HasAHeaderComment_AndIncludesOnlyOurHeaders()
    {
        var ours = KernelSources.Headers.Select(h => $"#include \"{h.FileName}\"").ToHashSet();
        foreach (var source in KernelSources.Files.Concat(KernelSources.Headers))
        {
            Assert.StartsWith($"// {source.FileName} — ", source.Text);
            foreach (var line in source.Text.Split('\n').Where(l => l.TrimStart().StartsWith("#include", StringComparison.Ordinal)))
                Assert.Contains(line.Trim(), ours); // never an NVIDIA header: NVRTC may not ship them
        }
        foreach (var file in KernelSources.Files)
            Assert.Contains("#include \"common.cuh\"", file.Text);
        Assert.Contains(KernelSources.Headers, h => h.FileName == "common.cuh");
    }

    [Fact]
    public void PtxEntries_AreRead()
    {
        const string ptx = ".visible .entry add_bf16(\n.param .u64 a\n)\n.visible .entry fill_f32(\n";
        Assert.Equal(["add_bf16", "fill_f32"], KernelCatalog.PtxEntries(ptx));
    }
}

public class ArchitectureTests
{
    [Theory]
    [InlineData("compute_80", 80, true, "")]
    [InlineData("sm_89", 89, false, "")]
    [InlineData("sm_90a", 90, false, "a")]
    [InlineData("compute_120", 120, true, "")]
    [InlineData("SM_100F", 100, false, "f")]
    public void Parse_ReadsNvrtcArchitectureNames(string text, int number, bool isVirtual, string suffix)
    {
        var arch = GpuArchitecture.Parse(text);
        Assert.Equal(new GpuArchitecture(number, isVirtual, suffix), arch);
        Assert.Equal(text.ToLowerInvariant(), arch.ToString());
    }

    [Theory]
    [InlineData("80")]
    [InlineData("sm80")]
    [InlineData("compute_8")]
    [InlineData("sm_90x")]
    [InlineData("")]
    public void Parse_RejectsOtherText(string text) => Assert.False(GpuArchitecture.TryParse(text, out _));

    private static readonly NvrtcInfo Nvrtc118 = new(11, 8, "libnvrtc.so.11.2", [35, 37, 50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90], true);
    private static readonly NvrtcInfo Nvrtc128 = new(12, 8, "libnvrtc.so.12", [50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90, 100, 101, 120], true);

    [Theory]
    [InlineData(89, "sm_89")]        // RTX 4090 with 11.8: native CUBIN
    [InlineData(90, "sm_90")]        // H100
    [InlineData(120, "compute_90")]  // RTX 5090 with 11.8: newest PTX, driver JIT
    [InlineData(100, "compute_90")]  // B200 with 11.8
    [InlineData(88, "compute_87")]   // an arch NVRTC does not list: newest below it
    public void Choose_WithNvrtc118(int device, string expected) =>
        Assert.Equal(expected, KernelCompiler.ChooseArchitecture(device, Nvrtc118).Architecture.ToString());

    [Theory]
    [InlineData(120, "sm_120")]
    [InlineData(121, "compute_120")]
    [InlineData(103, "compute_101")]
    public void Choose_WithNvrtc128(int device, string expected) =>
        Assert.Equal(expected, KernelCompiler.ChooseArchitecture(device, Nvrtc128).Architecture.ToString());

    [Fact]
    public void Choose_RejectsPreAmpere() =>
        Assert.Contains("8.0", Assert.Throws<AccelAesException>(() => KernelCompiler.ChooseArchitecture(75, Nvrtc118)).Message);

    [Fact]
    public void Supports_ArchSpecificVariants_OnlyFromTheNvrtcThatIntroducedThem()
    {
        Assert.False(KernelCompiler.Supports(new GpuArchitecture(90, false, "a"), Nvrtc118));
        Assert.True(KernelCompiler.Supports(new GpuArchitecture(90, false, "a"), Nvrtc128));
        Assert.False(KernelCompiler.Supports(GpuArchitecture.Sm(120), Nvrtc118));
        Assert.True(KernelCompiler.Supports(GpuArchitecture.Compute(90), Nvrtc118));
    }
}
