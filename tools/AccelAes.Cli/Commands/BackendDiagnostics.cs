using System.Text.Json;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Diagnostics;
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

    /// <summary>
    /// After a run that had SwiGLU feed-forwards (Lumina) on the CUDA backend: how many took the fused kernel and the split
    /// path, each shape <c>--swiglu-gemm auto</c> timed (both times and the choice), and why calls the kernel could not serve
    /// fell back (a warning: it costs speed, not correctness).
    /// </summary>
    public static void ShowSwiGluDecisions(IBackend be)
    {
        if (be is not CudaBackend cuda || cuda.FusedSwiGluCount + cuda.SplitSwiGluCount == 0)
            return;
        Ui.Info($"SwiGLU GEMM (--swiglu-gemm {cuda.Options.SwiGluGemm.ToString().ToLowerInvariant()}): {cuda.FusedSwiGluCount} fused, {cuda.SplitSwiGluCount} split");
        foreach (var decision in cuda.SwiGluDecisions)
            Ui.Info(decision.Describe());
        foreach (var (reason, calls) in cuda.SwiGluFallbacks)
            Ui.Warn($"SwiGLU: {calls} call(s) ran the split path: {reason}");
    }

    /// <summary>
    /// Two lines after a run (<see cref="CublasLtPathReport"/>): whether cuBLASLt offered an FP8 algorithm for the fp8
    /// Linears, and whether it accepted the gated-residual epilogue — what only a real cuBLASLt can answer. A fallback is a
    /// warning (it costs speed, not correctness); the shapes are in the warnings above.
    /// </summary>
    public static void ShowCublasLtPaths(IBackend be)
    {
        if (be is not CudaBackend cuda)
            return;
        var report = CublasLtPathReport.Of(cuda);
        Show(report.Fp8Line, report.Fp8Offered == false);
        Show(report.GatedLine, report.GatedEpilogueAccepted == false);

        static void Show(string line, bool fellBack)
        {
            if (fellBack) Ui.Warn(line);
            else Ui.Info(line);
        }
    }

    /// <summary>
    /// "gemm_shapes", "gemm_fallback_shapes", "fp8_gemm" and "gated_residual_epilogue" (<see cref="CublasLtPathReport"/>) and
    /// "warnings" (CUDA backend only; "gemm" too when <paramref name="engine"/>).
    /// </summary>
    public static void WriteJson(Utf8JsonWriter w, IBackend be, bool engine)
    {
        if (be is not CudaBackend cuda)
            return;
        if (engine)
            w.WriteString("gemm", cuda.GemmEngine);
        w.WriteNumber("gemm_shapes", cuda.GemmPlans.Planned);
        w.WriteNumber("gemm_fallback_shapes", cuda.GemmPlans.WithoutAlgorithm);
        var paths = CublasLtPathReport.Of(cuda);
        w.WriteStartObject("fp8_gemm");
        w.WriteBoolean("enabled", paths.Fp8Enabled);
        WriteOptional(w, "offered", paths.Fp8Offered);
        w.WriteNumber("shapes", paths.Fp8Shapes);
        w.WriteNumber("fallback_shapes", paths.Fp8FallbackShapes);
        w.WriteNumber("matmuls", paths.Fp8Matmuls);
        w.WriteString("summary", paths.Fp8Line);
        w.WriteEndObject();
        w.WriteStartObject("gated_residual_epilogue");
        WriteOptional(w, "accepted", paths.GatedEpilogueAccepted);
        w.WriteNumber("shapes", paths.GatedShapes);
        w.WriteNumber("fallback_shapes", paths.GatedFallbackShapes);
        w.WriteNumber("fallback_calls", paths.GatedFallbackCalls);
        w.WriteString("summary", paths.GatedLine);
        w.WriteEndObject();
        w.WriteStartArray("warnings");
        foreach (var warning in cuda.Warnings)
            w.WriteStringValue(warning);
        w.WriteEndArray();
    }

    /// <summary>A yes / no / not asked answer: true, false or null.</summary>
    private static void WriteOptional(Utf8JsonWriter w, string name, bool? value)
    {
        if (value is { } known) w.WriteBoolean(name, known);
        else w.WriteNull(name);
    }
}
