using AccelAes.Kernels.Compilation;
using AccelAes.Kernels.Interop;

namespace AccelAes.Kernels.Tests;

/// <summary>The target choice from device, NVRTC and driver versions together (no GPU needed).</summary>
public class KernelTargetPlanTests
{
    private static readonly int[] Archs118 = [35, 37, 50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90];
    private static readonly int[] Archs12x = [50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90, 100, 101, 120];
    private static readonly int[] Archs130 = [75, 80, 86, 87, 88, 89, 90, 100, 103, 110, 120, 121];

    private static NvrtcInfo Nvrtc(int major, int minor, int[] archs) => new(major, minor, $"libnvrtc.so.{major}", archs, true);

    private static string[] Targets(KernelTargetPlan plan) => plan.Targets.Select(t => t.Architecture.ToString()).ToArray();

    [Fact]
    public void H100_WithNvrtc118_AndA12Driver_TriesTheCubinThenItsPtx() =>
        Assert.Equal(["sm_90", "compute_90"], Targets(KernelTargetPlan.Create(90, Nvrtc(11, 8, Archs118), 12040)));

    [Fact]
    public void UnknownDriver_KeepsEveryTargetTheNvrtcCanBuild() =>
        Assert.Equal(["sm_89", "compute_89"], Targets(KernelTargetPlan.Create(89, Nvrtc(11, 8, Archs118), null)));

    [Fact]
    public void Rtx5090_WithNvrtc118_GetsCompute90Ptx_ForTheDriverToJit()
    {
        var plan = KernelTargetPlan.Create(120, Nvrtc(11, 8, Archs118), 12080);
        Assert.Equal(["compute_90"], Targets(plan));
        Assert.Contains("does not know sm_120", plan.Targets[0].Reason);
    }

    [Fact]
    public void PtxNewerThanTheDriver_IsRuledOut_ButTheSameMajorCubinStays()
    {
        // NVRTC 12.9 on a 12.8 (570-series) driver: the CUBIN loads (minor-version compatibility), the PTX ISA 8.8 does not.
        var plan = KernelTargetPlan.Create(120, Nvrtc(12, 9, Archs12x), 12080);
        Assert.Equal(["sm_120"], Targets(plan));
        var excluded = Assert.Single(plan.Excluded);
        Assert.Contains("compute_120", excluded);
        Assert.Contains("12.8", excluded);
    }

    [Fact]
    public void OlderDriverOfTheSameMajor_KeepsTheCubin_DropsThePtx() =>
        Assert.Equal(["sm_90"], Targets(KernelTargetPlan.Create(90, Nvrtc(11, 8, Archs118), 11040)));

    [Fact]
    public void Cuda13Nvrtc_OnA12Driver_IsRefusedUpFront_NamingBothVersionsAndTheRemedy()
    {
        var e = Assert.Throws<AccelAesException>(() => KernelTargetPlan.Create(120, Nvrtc(13, 0, Archs130), 12080));
        Assert.Contains("NVRTC 13.0", e.Message);
        Assert.Contains("12.8", e.Message);
        Assert.Contains("sm_120", e.Message);
        Assert.Contains(NativeLibraries.OverrideDirectoryVariable, e.Message);
    }

    [Fact]
    public void NewerDriver_AcceptsBoth() =>
        Assert.Equal(["sm_120", "compute_120"], Targets(KernelTargetPlan.Create(120, Nvrtc(12, 8, Archs12x), 13000)));

    [Theory]
    [InlineData(CuResult.CUDA_ERROR_NO_BINARY_FOR_GPU, true)]
    [InlineData(CuResult.CUDA_ERROR_UNSUPPORTED_PTX_VERSION, true)]
    [InlineData(CuResult.CUDA_ERROR_INVALID_PTX, true)]
    [InlineData(CuResult.CUDA_ERROR_JIT_COMPILER_NOT_FOUND, true)]
    [InlineData(CuResult.CUDA_ERROR_OUT_OF_MEMORY, false)]
    [InlineData(CuResult.CUDA_ERROR_INVALID_CONTEXT, false)]
    public void OnlyImageRefusals_AreWorthAnotherTarget(CuResult status, bool retry) =>
        Assert.Equal(retry, KernelTargetPlan.IsImageRefusal(status));
}

/// <summary>Known compiler crashes are avoided before NVRTC is called.</summary>
public class CompilerHazardsTests
{
    private static readonly string[] WithLineInfo = ["--gpu-architecture=sm_90", "-std=c++17", "-lineinfo", "-Xptxas=-v"];

    [Fact]
    public void Nvrtc118_Sm90_DropsLineInfo_AndSaysWhy()
    {
        var (options, notes) = CompilerHazards.Apply(WithLineInfo, GpuArchitecture.Sm(90), 11, "11.8");
        Assert.DoesNotContain("-lineinfo", options);
        Assert.Equal(WithLineInfo.Length - 1, options.Count);
        Assert.Contains("11.8", Assert.Single(notes));
    }

    [Theory]
    [InlineData("sm_89", 11)]      // ptxas assembles sm_89 with line info
    [InlineData("compute_90", 11)] // no ptxas in a PTX compile
    [InlineData("sm_90", 12)]      // a newer NVRTC
    public void OtherCombinations_KeepTheirOptions(string target, int nvrtcMajor)
    {
        var (options, notes) = CompilerHazards.Apply(WithLineInfo, GpuArchitecture.Parse(target), nvrtcMajor, $"{nvrtcMajor}.0");
        Assert.Equal(WithLineInfo, options);
        Assert.Empty(notes);
    }
}
