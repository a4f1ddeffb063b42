using AccelAes.Engine.Backends.Cuda;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>Which failures make the kernel launcher move to the next target (no GPU needed; the emulator test proves the move itself).</summary>
public class KernelTargetFallbackTests
{
    [Fact]
    public void ACompilerCrash_IsWorthAnotherTarget()
    {
        var crash = new KernelCompilerCrashException("pointwise.cu", "sm_90", "11.8", ["-lineinfo"], "exit code 134 (SIGABRT)", "Stack overflow.");
        var why = KernelLauncher.RefusalReason(crash);
        Assert.NotNull(why);
        Assert.Contains("11.8", why);
        Assert.Contains("134", why);
    }

    [Theory]
    [InlineData(CuResult.CUDA_ERROR_NO_BINARY_FOR_GPU)]
    [InlineData(CuResult.CUDA_ERROR_UNSUPPORTED_PTX_VERSION)]
    public void ADriverRefusingTheImage_IsWorthAnotherTarget(CuResult status)
    {
        var refusal = new CudaException(CudaApi.Driver, "cuModuleLoadDataEx", (int)status, status.ToString(), null, "loading binary.cu");
        Assert.Contains(status.ToString(), KernelLauncher.RefusalReason(refusal));
    }

    [Fact]
    public void OtherFailures_AreNotRetried()
    {
        Assert.Null(KernelLauncher.RefusalReason(new CudaException(CudaApi.Driver, "cuModuleLoadDataEx", (int)CuResult.CUDA_ERROR_OUT_OF_MEMORY,
            "CUDA_ERROR_OUT_OF_MEMORY", null, null)));
        Assert.Null(KernelLauncher.RefusalReason(new KernelCompileException("binary.cu", "sm_90", "error: expected a ;", [], "NVRTC_ERROR_COMPILATION")));
        // The same status from another library is not a module load.
        Assert.Null(KernelLauncher.RefusalReason(new CudaException(CudaApi.CublasLt, "cublasLtMatmul", 209, "x", null, null)));
    }
}
