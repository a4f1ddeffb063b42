using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels;
using AccelAes.Kernels.Compilation;
using AccelAes.Kernels.Interop;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// Version-aware module loading on the CPU emulator of the driver: a module the driver refuses moves the backend to
/// the plan's next target (and says why), a driver older than the NVRTC never gets its PTX, and a refusal with no target
/// left is an error naming the status. Compiles without a disk cache, so every module really goes through NVRTC and
/// the driver's image checks (emulated compute capability 8.0, NVRTC 11.8 in CI: the plan is sm_80, then compute_80).
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaKernelTargetTests(ITestOutputHelper output)
{
    private static CudaBackend Backend() => new(new CudaBackendOptions { Compiler = new KernelCompiler(cache: null), PoisonNewTensors = true });

    /// <summary>Runs a scale op and checks its values: the module really loaded and ran.</summary>
    private static void ScaleWorks(CudaBackend backend)
    {
        float[] values = [1.5f, -2.25f, 3f, 0.125f, 7f];
        using var x = backend.Upload(values, new Shape(values.Length));
        using var y = backend.Scale(x, 2f);
        Assert.Equal(values.Select(v => v * 2f), backend.Download(y));
    }

    /// <summary>Emulates a driver one minor release below the NVRTC: its PTX ISA is too new for that driver, its CUBIN is fine.</summary>
    private static IDisposable DriverOneMinorBelowTheNvrtc()
    {
        var nvrtc = new KernelCompiler(cache: null).Nvrtc;
        Skip.If(nvrtc.Minor == 0, $"NVRTC {nvrtc.Version}: no older driver of the same major to emulate");
        return EmulatorKnobs.Set("FAKE_CUDA_DRIVER_VERSION",
            (nvrtc.Major * 1000 + (nvrtc.Minor - 1) * 10).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [SkippableFact]
    public void ARefusedCubin_MovesTheBackendToPtx_ForThisAndLaterModules_AndSaysWhy()
    {
        using var refuse = EmulatorKnobs.Set("FAKE_CUDA_REFUSE_IMAGES", "cubin");
        using var backend = Backend();
        var first = backend.Architecture.Architecture;
        Skip.If(first.IsVirtual, $"this NVRTC ({Nvrtc.Info.Version}) has no CUBIN for the emulated device: nothing to refuse");

        ScaleWorks(backend);
        Assert.True(backend.Architecture.Architecture.IsVirtual, backend.Architecture.ToString());
        var note = Assert.Single(backend.KernelTargetNotes, n => n.Contains("switched", StringComparison.Ordinal));
        output.WriteLine(note);
        Assert.Contains(first.ToString(), note);
        Assert.Contains("CUDA_ERROR_NO_BINARY_FOR_GPU", note);
        Assert.Contains(backend.Architecture.Architecture.ToString(), note);

        // A module loaded later goes straight to the PTX target: no second switch.
        using var a = backend.Upload([1f, 2f], new Shape(2));
        using var sum = backend.Add(a, a);
        Assert.Equal([2f, 4f], backend.Download(sum));
        Assert.Single(backend.KernelTargetNotes, n => n.Contains("switched", StringComparison.Ordinal));
        Assert.All(backend.LoadedModules, m => Assert.Equal(KernelImageKind.Ptx, m.ImageKind));
    }

    [SkippableFact]
    public void ADriverOlderThanTheNvrtc_IsNeverOfferedItsPtx()
    {
        using var driver = DriverOneMinorBelowTheNvrtc();
        using var backend = Backend();
        Assert.False(backend.Architecture.Architecture.IsVirtual);
        var ruledOut = Assert.Single(backend.KernelTargetNotes);
        output.WriteLine(ruledOut);
        Assert.StartsWith("not used: compute_", ruledOut);
        ScaleWorks(backend);
        Assert.All(backend.LoadedModules, m => Assert.Equal(KernelImageKind.Cubin, m.ImageKind));
    }

    [SkippableFact]
    public void ARefusalWithNoTargetLeft_IsAnErrorNamingTheStatus()
    {
        using var driver = DriverOneMinorBelowTheNvrtc();
        using var refuse = EmulatorKnobs.Set("FAKE_CUDA_REFUSE_IMAGES", "cubin");
        using var backend = Backend();
        var e = Assert.Throws<CudaException>(() => ScaleWorks(backend));
        output.WriteLine(e.Message);
        Assert.Equal("CUDA_ERROR_NO_BINARY_FOR_GPU", e.StatusName);
        Assert.DoesNotContain(backend.KernelTargetNotes, n => n.Contains("switched", StringComparison.Ordinal));
    }
}
