using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Compilation;
using AccelAes.Kernels.Interop;

namespace AccelAes.Cli.Commands;

/// <summary>
/// The versions a CUDA run depends on — driver, NVRTC, cuBLASLt — and the kernel target chosen from them, printed
/// first by `selftest` and `bench` (a report from a GPU machine is only useful with them), and every target that
/// was ruled out or abandoned, with why.
/// </summary>
internal static class CudaEnvironmentReport
{
    public static void Show(IBackend backend)
    {
        if (backend is not CudaBackend cuda)
            return;
        Ui.Info($"CUDA driver {KernelTargetPlan.FormatCudaVersion(cuda.DriverVersion)} ({NativeLibraries.Load(CudaLibrary.Driver).LoadedPath}); " +
                $"NVRTC {Nvrtc.Info.Version} ({Nvrtc.Info.LibraryPath}); GEMM: {cuda.GemmEngine}");
        Ui.Info($"device {cuda.Device}; kernels for {cuda.Architecture}");
        ShowTargetNotes(cuda);
    }

    /// <summary>Targets ruled out and switches made so far (a switch happens at a module's first load: call again at the end of a run).</summary>
    public static void ShowTargetNotes(CudaBackend cuda)
    {
        foreach (var note in cuda.KernelTargetNotes)
            Ui.Warn("kernel target: " + note);
    }
}
