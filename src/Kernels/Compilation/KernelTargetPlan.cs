using AccelAes.Kernels.Interop;

namespace AccelAes.Kernels.Compilation;

/// <summary>
/// The kernel targets to try on one device, best first, decided from three versions together: the device's
/// compute capability, what the NVRTC can emit, and what the driver can load (pure; unit-tested without a GPU).
/// The kernel launcher compiles and loads with the first; when the driver refuses a module (or the compiler
/// crashes) it moves to the next and says why.
/// </summary>
/// <remarks>
/// The driver's rules (CUDA compatibility guide): a CUBIN loads on a driver of the same CUDA major version as the
/// toolkit that built it or a newer one (minor-version compatibility), and only on its own GPU family (sm_XY on
/// X.Z, Z ≥ Y); PTX is JIT-compiled by the driver, which accepts only PTX ISA versions up to its own — so PTX from
/// NVRTC 12.8 (ISA 8.7) needs a 12.8 driver or newer. A CUDA 13 NVRTC beside a 570-series (12.8) driver can
/// therefore produce nothing that loads: the plan says so instead of failing module by module.
/// </remarks>
public sealed record KernelTargetPlan(IReadOnlyList<ArchitectureChoice> Targets, IReadOnlyList<string> Excluded)
{
    /// <summary>The plan for a device of architecture <paramref name="deviceArchitecture"/> (89 for 8.9); <paramref name="driverVersion"/> as cuDriverGetVersion gives it (12080), or null when unknown.</summary>
    public static KernelTargetPlan Create(int deviceArchitecture, NvrtcInfo nvrtc, int? driverVersion)
    {
        if (deviceArchitecture < KernelCompiler.MinimumArchitecture)
            throw new AccelAesException(
                $"the GPU is sm_{deviceArchitecture}; AccelAes kernels need compute capability {KernelCompiler.MinimumArchitecture / 10}.{KernelCompiler.MinimumArchitecture % 10} (Ampere) or newer");
        var targets = new List<ArchitectureChoice>();
        var excluded = new List<string>();
        int nvrtcVersion = nvrtc.Major * 1000 + nvrtc.Minor * 10;
        string driver = driverVersion is { } d ? CudaDriver.FormatVersion(d) : "unknown";

        if (nvrtc.Supports(deviceArchitecture) && nvrtc.CanEmitCubin)
        {
            var cubin = GpuArchitecture.Sm(deviceArchitecture);
            if (driverVersion is null || driverVersion.Value / 1000 >= nvrtc.Major)
                targets.Add(new ArchitectureChoice(cubin, $"NVRTC {nvrtc.Version} supports the device's architecture: native CUBIN, no JIT"));
            else
                excluded.Add($"{cubin}: a CUBIN from NVRTC {nvrtc.Version} needs a CUDA {nvrtc.Major}.x driver; this driver is {driver}");
        }

        int best = nvrtc.SupportedArchitectures.Where(a => a <= deviceArchitecture && a >= KernelCompiler.MinimumArchitecture).DefaultIfEmpty(0).Max();
        if (best == 0)
        {
            excluded.Add($"PTX: NVRTC {nvrtc.Version} lists none of the architectures {KernelCompiler.MinimumArchitecture}..{deviceArchitecture} ({string.Join(", ", nvrtc.SupportedArchitectures)})");
        }
        else
        {
            var ptx = GpuArchitecture.Compute(best);
            if (driverVersion is null || driverVersion.Value >= nvrtcVersion)
                targets.Add(new ArchitectureChoice(ptx, best == deviceArchitecture
                    ? $"PTX for the device's architecture, JIT-compiled by driver {driver} at load"
                    : $"NVRTC {nvrtc.Version} does not know sm_{deviceArchitecture}; newest it has is {ptx}: PTX, JIT-compiled by the driver at load"));
            else
                excluded.Add($"{ptx}: PTX from NVRTC {nvrtc.Version} needs a driver of CUDA {nvrtc.Version} or newer (it refuses newer PTX ISA versions); this driver is {driver}");
        }

        if (targets.Count == 0)
            throw new AccelAesException(
                $"NVRTC {nvrtc.Version} ({nvrtc.LibraryPath}) can build nothing that the CUDA driver {driver} loads on sm_{deviceArchitecture}:\n  "
                + string.Join("\n  ", excluded)
                + $"\nUse an NVRTC no newer than the driver (put its folder in {NativeLibraries.OverrideDirectoryVariable}) or update the NVIDIA driver.");
        return new KernelTargetPlan(targets, excluded);
    }

    /// <summary>
    /// True when the driver refused the image itself (wrong architecture, PTX ISA too new, JIT unavailable or
    /// failed) — the errors another target can avoid. Out-of-memory and context errors are not among them.
    /// </summary>
    public static bool IsImageRefusal(CuResult status) => status is
        CuResult.CUDA_ERROR_NO_BINARY_FOR_GPU
        or CuResult.CUDA_ERROR_UNSUPPORTED_PTX_VERSION
        or CuResult.CUDA_ERROR_INVALID_PTX
        or CuResult.CUDA_ERROR_INVALID_IMAGE
        or CuResult.CUDA_ERROR_INVALID_SOURCE
        or CuResult.CUDA_ERROR_JIT_COMPILER_NOT_FOUND
        or CuResult.CUDA_ERROR_JIT_COMPILATION_DISABLED
        or CuResult.CUDA_ERROR_SHARED_OBJECT_INIT_FAILED;
}
