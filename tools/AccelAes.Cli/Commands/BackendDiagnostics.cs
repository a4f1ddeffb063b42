using System.Text.Json;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Kernels.Interop;

namespace AccelAes.Cli.Commands;

/// <summary>
/// What a backend reports about itself beyond its results — the CUDA versions and target, and the backend's warnings (a bypassed cuBLASLt,
/// GEMM shapes that fell back to gemm.cu) — shown by `bench` and `selftest` and written into their JSON, so a slow
/// GEMM path is never silent (DESIGN.md §3). The engine never prints; it collects, and this prints.
/// </summary>
internal static class BackendDiagnostics
{
    /// <summary>
    /// The versions a CUDA run depends on — driver, NVRTC, cuBLASLt — and the kernel target chosen from them, printed
    /// first by `selftest` and `bench` (a report from a GPU machine is only useful with them). Targets ruled out or
    /// abandoned come as warnings (<see cref="ShowWarnings"/>).
    /// </summary>
    public static void ShowEnvironment(IBackend be)
    {
        if (be is not CudaBackend cuda)
            return;
        Ui.Info($"CUDA driver {CudaDriver.FormatVersion(cuda.DriverVersion)} ({NativeLibraries.Load(CudaLibrary.Driver).LoadedPath}); " +
                $"NVRTC {Nvrtc.Info.Version} ({Nvrtc.Info.LibraryPath}); GEMM: {cuda.GemmEngine}");
        Ui.Info($"device {cuda.Device}; kernels for {cuda.Architecture}");
    }

    /// <summary>Prints the warnings the backend already has (from its constructor) and each later one as it happens.</summary>
    public static void ShowWarnings(IBackend be)
    {
        if (be is not CudaBackend cuda)
            return;
        foreach (var warning in cuda.Warnings)
            Ui.Warn(warning);
        cuda.Warned += Ui.Warn;
    }

    /// <summary>One line after the run: how many GEMM shapes cuBLASLt planned and how many run on gemm.cu (when any did).</summary>
    public static void ShowGemmSummary(IBackend be)
    {
        if (be is CudaBackend cuda && cuda.GemmPlans.WithoutAlgorithm > 0)
            Ui.Warn($"{cuda.GemmPlans.WithoutAlgorithm} of {cuda.GemmPlans.Planned} GEMM shapes ran on gemm.cu instead of cuBLASLt (see the warnings above)");
    }

    /// <summary>"gemm_shapes", "gemm_fallback_shapes" and "warnings" (CUDA backend only; "gemm" too when <paramref name="engine"/>).</summary>
    public static void WriteJson(Utf8JsonWriter w, IBackend be, bool engine)
    {
        if (be is not CudaBackend cuda)
            return;
        if (engine)
            w.WriteString("gemm", cuda.GemmEngine);
        w.WriteNumber("gemm_shapes", cuda.GemmPlans.Planned);
        w.WriteNumber("gemm_fallback_shapes", cuda.GemmPlans.WithoutAlgorithm);
        w.WriteStartArray("warnings");
        foreach (var warning in cuda.Warnings)
            w.WriteStringValue(warning);
        w.WriteEndArray();
    }
}
