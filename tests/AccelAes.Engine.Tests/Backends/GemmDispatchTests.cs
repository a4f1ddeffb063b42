using AccelAes.Engine.Backends.Cuda;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// The GEMM dispatch's decisions without a GPU: which statuses move on to the next algorithm, what the fallback
/// warning says, and when a cuBLASLt is bypassed for the device or driver (DESIGN.md §3).
/// </summary>
public class GemmDispatchTests
{
    private const CublasStatus Ok = CublasStatus.CUBLAS_STATUS_SUCCESS;
    private const CublasStatus NotSupported = CublasStatus.CUBLAS_STATUS_NOT_SUPPORTED;

    [Theory]
    [InlineData(CublasStatus.CUBLAS_STATUS_NOT_SUPPORTED, true)]
    [InlineData(CublasStatus.CUBLAS_STATUS_INVALID_VALUE, true)]
    [InlineData(CublasStatus.CUBLAS_STATUS_ARCH_MISMATCH, true)]
    [InlineData(CublasStatus.CUBLAS_STATUS_EXECUTION_FAILED, false)]
    [InlineData(CublasStatus.CUBLAS_STATUS_INTERNAL_ERROR, false)]
    [InlineData(CublasStatus.CUBLAS_STATUS_ALLOC_FAILED, false)]
    [InlineData(CublasStatus.CUBLAS_STATUS_NOT_INITIALIZED, false)]
    [InlineData(CublasStatus.CUBLAS_STATUS_SUCCESS, false)]
    public void IsRefusal_OnlyForStatusesThatMeanTryAnotherAlgorithm(CublasStatus status, bool refusal) =>
        Assert.Equal(refusal, GemmDispatch.IsRefusal(status));

    [Fact]
    public void Search_SkipsRefusedAlgorithms_AndStopsAtTheFirstThatRuns()
    {
        var tried = new List<int>();
        var search = GemmDispatch.Search(0, 8, i =>
        {
            tried.Add(i);
            return i < 3 ? NotSupported : Ok;
        });
        Assert.Equal(3, search.Chosen);
        Assert.Equal(3, search.Refused);
        Assert.Equal(NotSupported, search.LastRefusal);
        Assert.Null(search.Fatal);
        Assert.Equal([0, 1, 2, 3], tried);
    }

    [Fact]
    public void Search_StartsAtTheCachedAlgorithm()
    {
        var tried = new List<int>();
        var search = GemmDispatch.Search(2, 4, i => { tried.Add(i); return Ok; });
        Assert.Equal(2, search.Chosen);
        Assert.Equal(0, search.Refused);
        Assert.Equal([2], tried);
    }

    [Fact]
    public void Search_WhenAllAreRefused_ChoosesNothing_AndCountsEveryRefusal()
    {
        var search = GemmDispatch.Search(0, 4, i => i % 2 == 0 ? NotSupported : CublasStatus.CUBLAS_STATUS_INVALID_VALUE);
        Assert.Null(search.Chosen);
        Assert.Null(search.Fatal);
        Assert.Equal(4, search.Refused);
        Assert.Equal(CublasStatus.CUBLAS_STATUS_INVALID_VALUE, search.LastRefusal);
    }

    [Fact]
    public void Search_StopsAtAnError_WithoutTryingFurtherAlgorithms()
    {
        var tried = new List<int>();
        var search = GemmDispatch.Search(0, 8, i =>
        {
            tried.Add(i);
            return i == 0 ? NotSupported : CublasStatus.CUBLAS_STATUS_EXECUTION_FAILED;
        });
        Assert.Null(search.Chosen);
        Assert.Equal(CublasStatus.CUBLAS_STATUS_EXECUTION_FAILED, search.Fatal);
        Assert.Equal([0, 1], tried);
    }

    [Fact]
    public void Search_WithNoCandidates_ChoosesNothing()
    {
        var search = GemmDispatch.Search(0, 0, _ => throw new InvalidOperationException("nothing to run"));
        Assert.Equal(new AlgorithmSearch(null, 0, null, null), search);
    }

    [Fact]
    public void FallbackWarning_NamesOpShapeTypesEpilogue_AndTheReason()
    {
        var shape = GemmDispatch.DescribeShape(GemmMapping.ForLinear(130, 72, 96), CudaDataType.R16BF, CublasLtEpilogue.GeluBias);
        Assert.Contains("72×130×96", shape); // cuBLAS m = out features, n = tokens
        Assert.Contains("opA T, opB N", shape);
        Assert.Contains("→ bf16", shape);
        Assert.Contains("GELU_BIAS", shape);

        var refused = GemmDispatch.FallbackWarning("Linear", shape, 4, Ok, new AlgorithmSearch(null, 4, NotSupported, null));
        Assert.Contains("Linear", refused);
        Assert.Contains(shape, refused);
        Assert.Contains("gemm.cu", refused);
        Assert.Contains("refused all 4 algorithm(s)", refused);
        // Refusals spread over several calls (the search resumes after earlier ones): still every offered algorithm.
        Assert.Contains("refused all 4 algorithm(s)",
            GemmDispatch.FallbackWarning("Linear", shape, 4, Ok, new AlgorithmSearch(null, 1, NotSupported, null)));
        Assert.Contains("CUBLAS_STATUS_NOT_SUPPORTED", refused);

        var none = GemmDispatch.FallbackWarning("Conv2d", shape, 0, NotSupported, new AlgorithmSearch(null, 0, null, null));
        Assert.Contains("Conv2d", none);
        Assert.Contains("offered no algorithm (CUBLAS_STATUS_NOT_SUPPORTED)", none);
    }

    [Theory]
    [InlineData(120403UL, "12.4.3")]
    [InlineData(111103UL, "11.11.3")]
    [InlineData(130000UL, "13.0.0")]
    public void VersionText_SplitsCublasLtsNumber(ulong version, string text) => Assert.Equal(text, GemmDispatch.VersionText(version));

    [Theory]
    // cuBLASLt newer than the driver: cuBLAS 13 on a CUDA 12.x driver cannot load its kernels.
    [InlineData(130000UL, 12080, 9, 0, "needs a CUDA 13.x driver")]
    [InlineData(130100UL, 12090, 12, 0, "needs a CUDA 13.x driver")]
    // cuBLASLt older than the architecture: Blackwell needs CUDA 12.8's cuBLAS, Hopper CUDA 11.8's (cuBLAS 11.11).
    [InlineData(120600UL, 12080, 12, 0, "no kernels for compute capability 12.0")]
    [InlineData(120403UL, 12080, 10, 0, "needs cuBLASLt 12.8.0")]
    [InlineData(111000UL, 12000, 9, 0, "needs cuBLASLt 11.11.0")]
    [InlineData(110900UL, 11080, 8, 9, "sm_89")]
    // Too old for bf16 at all.
    [InlineData(100200UL, 12040, 8, 0, "older than 11.0")]
    public void LibraryProblem_NamesWhyACublasLtCannotServe(ulong version, int driver, int major, int minor, string expected)
    {
        var problem = GemmDispatch.LibraryProblem(version, driver, new ComputeCapability(major, minor));
        Assert.NotNull(problem);
        Assert.Contains(expected, problem);
        Assert.Contains(GemmDispatch.VersionText(version), problem);
    }

    [Theory]
    [InlineData(120800UL, 12080, 12, 0)]  // the first cuBLAS for sm_120, on its driver
    [InlineData(120800UL, 12040, 12, 0)]  // a newer 12.x cuBLAS on an older 12.x driver: minor-version compatibility
    [InlineData(111103UL, 12040, 9, 0)]   // CUDA 11.8's cuBLAS on Hopper
    [InlineData(130000UL, 13000, 9, 0)]
    [InlineData(120403UL, 12040, 8, 0)]   // the emulator's combination
    [InlineData(110000UL, 11000, 8, 0)]
    [InlineData(120403UL, null, 8, 6)]    // driver version unknown: not held against the library
    [InlineData(120403UL, 12040, 8, 8)]   // an unlisted minor takes its major's nearest lower entry (8.7)
    [InlineData(120403UL, 12040, 14, 0)]  // an architecture newer than the table: nothing known, refusals still fall back
    public void LibraryProblem_IsNull_WhenTheLibraryFitsDeviceAndDriver(ulong version, int? driver, int major, int minor) =>
        Assert.Null(GemmDispatch.LibraryProblem(version, driver, new ComputeCapability(major, minor)));

    [Fact]
    public void LibraryProblem_Cuda13OnAPreTuringDevice_IsRefused() =>
        Assert.Contains("no longer supports", GemmDispatch.LibraryProblem(130000, 13000, new ComputeCapability(7, 0)));

    [Fact]
    public void MinimumVersion_UsesTheNearestLowerMinorOfTheSameMajor()
    {
        Assert.Equal(110500UL, GemmDispatch.MinimumCublasLtVersion(new ComputeCapability(8, 8)));
        Assert.Equal(120800UL, GemmDispatch.MinimumCublasLtVersion(new ComputeCapability(10, 1)));
        Assert.Equal(120900UL, GemmDispatch.MinimumCublasLtVersion(new ComputeCapability(12, 1)));
        Assert.Null(GemmDispatch.MinimumCublasLtVersion(new ComputeCapability(7, 5)));
    }

    [Fact]
    public void LibraryWarning_NamesPathVersionAndReason()
    {
        var w = GemmDispatch.LibraryWarning("/opt/cuda/lib64/libcublasLt.so.13", 130002, "it needs a CUDA 13.x driver");
        Assert.Contains("/opt/cuda/lib64/libcublasLt.so.13", w);
        Assert.Contains("13.0.2", w);
        Assert.Contains("it needs a CUDA 13.x driver", w);
        Assert.Contains("gemm.cu", w);
        Assert.DoesNotContain("version", GemmDispatch.LibraryWarning("libcublasLt.so.12", null, "x"));
    }
}
