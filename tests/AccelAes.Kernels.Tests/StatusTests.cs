using AccelAes.Kernels.Interop;

namespace AccelAes.Kernels.Tests;

public class StatusTests
{
    [Theory]
    [InlineData(0, "CUDA_SUCCESS")]
    [InlineData(2, "CUDA_ERROR_OUT_OF_MEMORY")]
    [InlineData(34, "CUDA_ERROR_STUB_LIBRARY")]
    [InlineData(100, "CUDA_ERROR_NO_DEVICE")]
    [InlineData(209, "CUDA_ERROR_NO_BINARY_FOR_GPU")]
    [InlineData(222, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION")]
    [InlineData(700, "CUDA_ERROR_ILLEGAL_ADDRESS")]
    [InlineData(719, "CUDA_ERROR_LAUNCH_FAILED")]
    [InlineData(910, "CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE")]
    [InlineData(999, "CUDA_ERROR_UNKNOWN")]
    public void DriverStatusNames_MatchCudaH(int code, string name) => Assert.Equal(name, StatusNames.Driver(code));

    [Theory]
    [InlineData(0, "NVRTC_SUCCESS")]
    [InlineData(5, "NVRTC_ERROR_INVALID_OPTION")]
    [InlineData(6, "NVRTC_ERROR_COMPILATION")]
    [InlineData(11, "NVRTC_ERROR_INTERNAL_ERROR")]
    public void NvrtcStatusNames_MatchNvrtcH(int code, string name) => Assert.Equal(name, StatusNames.Nvrtc(code));

    [Theory]
    [InlineData(0, "CUBLAS_STATUS_SUCCESS")]
    [InlineData(7, "CUBLAS_STATUS_INVALID_VALUE")]
    [InlineData(13, "CUBLAS_STATUS_EXECUTION_FAILED")]
    [InlineData(15, "CUBLAS_STATUS_NOT_SUPPORTED")]
    public void CublasStatusNames_MatchCublasH(int code, string name) => Assert.Equal(name, StatusNames.Cublas(code));

    [Fact]
    public void UnknownCodes_KeepTheirNumber()
    {
        Assert.Contains("12345", StatusNames.Driver(12345));
        Assert.Contains("77", StatusNames.Nvrtc(77));
        Assert.Contains("42", StatusNames.Cublas(42));
    }

    [SkippableFact]
    public void NvrtcStatusTable_AgreesWithTheLoadedLibrary()
    {
        Requirements.Nvrtc();
        // Every code our table names must be what nvrtcGetErrorString calls it (0..11 exist since NVRTC 11.0).
        for (var code = 0; code <= 11; code++)
            Assert.Equal(StatusNames.Nvrtc(code), Nvrtc.ErrorName((NvrtcResult)code));
    }

    [Fact]
    public void CudaException_MessageNamesCallStatusAndOperation()
    {
        var e = Assert.Throws<CudaException>(() => CudaDriver.Check(CuResult.CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc_v2", "linear q_proj [4096x3072] bf16"));
        Assert.Contains("cuMemAlloc_v2", e.Message);
        Assert.Contains("CUDA_ERROR_OUT_OF_MEMORY", e.Message);
        Assert.Contains("(2)", e.Message);
        Assert.Contains("q_proj [4096x3072]", e.Message);
        Assert.Equal(CudaApi.Driver, e.Api);
        Assert.Equal(2, e.Status);
        Assert.IsAssignableFrom<AccelAesException>(e);

        var n = Assert.Throws<CudaException>(() => Nvrtc.Check(NvrtcResult.NVRTC_ERROR_INVALID_OPTION, "nvrtcCompileProgram", "binary.cu"));
        Assert.Contains("NVRTC_ERROR_INVALID_OPTION", n.Message);
        var c = Assert.Throws<CudaException>(() => CublasLt.Check(CublasStatus.CUBLAS_STATUS_NOT_SUPPORTED, "cublasLtMatmul", "M=4096 N=3072 K=3072"));
        Assert.Contains("CUBLAS_STATUS_NOT_SUPPORTED", c.Message);
        Assert.Contains("M=4096", c.Message);
    }

    [Fact]
    public void CudaDriverCheck_DoesNotThrowOnSuccess() => CudaDriver.Check(CuResult.CUDA_SUCCESS, "cuInit");

    [Fact]
    public unsafe void NativeStructs_HaveTheCLayout()
    {
        Assert.Equal(64, sizeof(CublasLtMatmulAlgo));
        Assert.Equal(96, sizeof(CublasLtMatmulHeuristicResult));
        Assert.Equal(24, sizeof(CuGraphExecUpdateResultInfo));
        Assert.Equal(8, sizeof(CuDevicePtr));
        Assert.Equal(sizeof(nint), sizeof(CuStream));
        Assert.Equal(sizeof(nint), sizeof(CuContext));
        Assert.Equal(sizeof(nint), sizeof(CublasLtHandle));
    }

    [Fact]
    public void EnumValues_MatchTheHeaders()
    {
        // Spot checks of values the engine passes to the libraries (cuda.h, cublasLt.h, library_types.h).
        Assert.Equal(75, (int)CuDeviceAttribute.ComputeCapabilityMajor);
        Assert.Equal(76, (int)CuDeviceAttribute.ComputeCapabilityMinor);
        Assert.Equal(16, (int)CuDeviceAttribute.MultiprocessorCount);
        Assert.Equal(97, (int)CuDeviceAttribute.MaxSharedMemoryPerBlockOptin);
        Assert.Equal(4, (int)CuFunctionAttribute.NumRegs);
        Assert.Equal(8, (int)CuFunctionAttribute.MaxDynamicSharedSizeBytes);
        Assert.Equal(1u, (uint)CublasLtEpilogue.Default);
        Assert.Equal(4u, (uint)CublasLtEpilogue.Bias);
        Assert.Equal(36u, (uint)CublasLtEpilogue.GeluBias);
        Assert.Equal(7, (int)CublasLtMatmulDescAttribute.Epilogue);
        Assert.Equal(8, (int)CublasLtMatmulDescAttribute.BiasPointer);
        Assert.Equal(26, (int)CublasLtMatmulDescAttribute.BiasDataType);
        Assert.Equal(68, (int)CublasComputeType.Compute32F);
        Assert.Equal(14, (int)CudaDataType.R16BF);
        Assert.Equal(2, (int)CudaDataType.R16F);
    }
}
