using AccelAes.Kernels.Interop;
using Xunit.Abstractions;

namespace AccelAes.Kernels.Tests;

/// <summary>
/// cuBLASLt's descriptor API runs on the host, so where libcublasLt is installed (not in CI: ~560 MB) it
/// checks our attribute ids, value sizes and enum values against the real library without a GPU:
/// cuBLASLt validates every attribute id and buffer size and answers INVALID_VALUE to a wrong one.
/// </summary>
public class CublasLtHostTests(ITestOutputHelper output)
{
    private static void RequireCublasLt() =>
        Skip.IfNot(CublasLt.IsAvailable, "cuBLASLt not installed; descriptor checks skipped.\n" + NativeLibraries.Load(CudaLibrary.CublasLt).Describe());

    [SkippableFact]
    public unsafe void Descriptors_AcceptOurAttributes_ForBf16LinearWithGeluBias()
    {
        RequireCublasLt();
        output.WriteLine($"cuBLASLt {CublasLt.Version()} from {NativeLibraries.Load(CudaLibrary.CublasLt).LoadedPath}");
        // Row-major Y[M×N] = X[M×K]·W[N×K]ᵀ + b as column-major Yᵀ = W·Xᵀ (see CublasLt remarks).
        const ulong m = 4096, n = 3072, k = 768;
        var desc = CublasLt.MatmulDescCreate(CublasComputeType.Compute32F, CudaDataType.R32F);
        var a = CublasLt.MatrixLayoutCreate(CudaDataType.R16BF, k, n, (long)k); // W stored N×K row-major = K×N col-major, transposed
        var b = CublasLt.MatrixLayoutCreate(CudaDataType.R16BF, k, m, (long)k);
        var d = CublasLt.MatrixLayoutCreate(CudaDataType.R16BF, n, m, (long)n);
        var pref = CublasLt.PreferenceCreate(32UL << 20);
        try
        {
            CublasLt.SetTranspose(desc, CublasOperation.T, CublasOperation.N);
            CublasLt.SetEpilogue(desc, CublasLtEpilogue.GeluBias, new CuDevicePtr(0x10000), CudaDataType.R16BF);
            CublasLt.SetEpilogue(desc, CublasLtEpilogue.Bias, new CuDevicePtr(0x10000));
            CublasLt.SetEpilogue(desc, CublasLtEpilogue.Default);
            CublasLt.SetBatch(d, 2, (long)(n * m));
        }
        finally
        {
            CublasLt.PreferenceDestroy(pref);
            CublasLt.MatrixLayoutDestroy(d);
            CublasLt.MatrixLayoutDestroy(b);
            CublasLt.MatrixLayoutDestroy(a);
            CublasLt.MatmulDescDestroy(desc);
        }
    }

    [SkippableFact]
    public unsafe void WrongAttributeSize_IsRejected_SoTheAcceptanceAboveMeansSomething()
    {
        RequireCublasLt();
        var desc = CublasLt.MatmulDescCreate();
        try
        {
            ulong tooWide = (ulong)CublasLtEpilogue.Gelu;
            var status = CublasLtNative.cublasLtMatmulDescSetAttribute(desc, CublasLtMatmulDescAttribute.Epilogue, &tooWide, sizeof(ulong));
            Assert.Equal(CublasStatus.CUBLAS_STATUS_INVALID_VALUE, status);
            var e = Assert.Throws<CudaException>(() => CublasLt.Check(status, "cublasLtMatmulDescSetAttribute", "EPILOGUE"));
            Assert.Contains("CUBLAS_STATUS_INVALID_VALUE", e.Message);
            output.WriteLine(e.Message);
        }
        finally
        {
            CublasLt.MatmulDescDestroy(desc);
        }
    }

    [SkippableFact]
    public void StatusNames_AgreeWithTheLibrary()
    {
        RequireCublasLt();
        foreach (var status in Enum.GetValues<CublasStatus>())
            Assert.Equal(StatusNames.Cublas((int)status), CublasLt.StatusName(status));
    }
}
