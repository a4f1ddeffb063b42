using AccelAes.Kernels;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>The outcome of trying a shape's algorithms in order (<see cref="GemmDispatch.Search"/>).</summary>
/// <param name="Chosen">The index of the algorithm that ran, or null.</param>
/// <param name="Refused">How many algorithms refused the problem before that (or in all).</param>
/// <param name="LastRefusal">The status of the last refusal, if any.</param>
/// <param name="Fatal">A status that is an error, not a refusal: the search stopped there.</param>
public readonly record struct AlgorithmSearch(int? Chosen, int Refused, CublasStatus? LastRefusal, CublasStatus? Fatal);

/// <summary>What happened to one GEMM shape: the algorithm cuBLASLt ran, or why gemm.cu runs it instead.</summary>
/// <param name="Op">The op that first asked for the shape (Linear, Conv2d).</param>
/// <param name="Shape">cuBLAS's m×n×k and transposes, the types and the epilogue (<see cref="GemmDispatch.DescribeShape"/>).</param>
/// <param name="AlgorithmsOffered">How many algorithms the heuristic offered.</param>
/// <param name="Algorithm">The index (in the heuristic's order) of the algorithm in use; null when the shape fell back.</param>
/// <param name="FallbackReason">Why the shape runs on gemm.cu; null while cuBLASLt runs it.</param>
public sealed record GemmShapeReport(string Op, string Shape, int AlgorithmsOffered, int? Algorithm, string? FallbackReason);

/// <summary>
/// The decisions of the GEMM dispatch, kept free of device calls so they are unit-tested without a GPU (DESIGN.md §3:
/// a library that cannot serve is reported and bypassed, never fatal; a GEMM that falls back to our own kernel is
/// reported once per shape, never silent).
/// </summary>
public static class GemmDispatch
{
    /// <summary>
    /// Algorithms asked of cuBLASLt's heuristic per shape. The first is usually best; the others are what the dispatch
    /// tries when a matmul refuses one (it happens with alignments, workspace needs, epilogue support) before it settles
    /// for gemm.cu, which is an order of magnitude slower on tensor-core GPUs.
    /// </summary>
    public const int HeuristicCandidates = 8;

    /// <summary>
    /// Statuses of cublasLtMatmul / the heuristic that mean "this algorithm (or cuBLASLt) cannot run this problem" and
    /// leave nothing written: NOT_SUPPORTED (the documented refusal), INVALID_VALUE (documented for an algorithm whose
    /// configuration does not fit, e.g. its workspace), ARCH_MISMATCH (no kernel for this device). Anything else
    /// (execution failed, internal error, allocation failed, not initialised) is an error and is raised.
    /// </summary>
    public static bool IsRefusal(CublasStatus status) =>
        status is CublasStatus.CUBLAS_STATUS_NOT_SUPPORTED or CublasStatus.CUBLAS_STATUS_INVALID_VALUE or CublasStatus.CUBLAS_STATUS_ARCH_MISMATCH;

    /// <summary>
    /// Runs candidates <paramref name="start"/>, <paramref name="start"/>+1, … &lt; <paramref name="count"/> until one
    /// succeeds: a refusal moves on to the next, any other failure stops the search (<see cref="AlgorithmSearch.Fatal"/>).
    /// </summary>
    public static AlgorithmSearch Search(int start, int count, Func<int, CublasStatus> run)
    {
        ArgumentNullException.ThrowIfNull(run);
        int refused = 0;
        CublasStatus? last = null;
        for (int i = Math.Max(0, start); i < count; i++)
        {
            var status = run(i);
            if (status == CublasStatus.CUBLAS_STATUS_SUCCESS)
                return new AlgorithmSearch(i, refused, last, null);
            if (!IsRefusal(status))
                return new AlgorithmSearch(null, refused, last, status);
            refused++;
            last = status;
        }
        return new AlgorithmSearch(null, refused, last, null);
    }

    /// <summary>"m×n×k 72×130×96 (opA T, opB N), bf16·bf16 → bf16, epilogue GELU_BIAS" — cuBLASLt's view of the product.</summary>
    public static string DescribeShape(GemmMapping g, CudaDataType dType, CublasLtEpilogue epilogue) =>
        $"m×n×k {g.M}×{g.N}×{g.K} (opA {g.TransA}, opB {g.TransB}), bf16·bf16 → {TypeName(dType)}, epilogue {EpilogueName(epilogue)}";

    /// <summary>
    /// The once-per-shape warning for a GEMM that gemm.cu runs because cuBLASLt could not: which op and shape, and the
    /// reason — the heuristic's status when it offered nothing, else how many algorithms were refused and the last status.
    /// A shape falls back only once every offered algorithm has refused it (earlier calls may have refused some: a search
    /// resumes after them), so the count is <paramref name="offered"/>.
    /// </summary>
    public static string FallbackWarning(string op, string shape, int offered, CublasStatus heuristicStatus, AlgorithmSearch search)
    {
        string reason = offered == 0
            ? "cuBLASLt's heuristic offered no algorithm" +
              (heuristicStatus == CublasStatus.CUBLAS_STATUS_SUCCESS ? " (0 results)" : $" ({StatusNames.Cublas((int)heuristicStatus)})")
            : $"cuBLASLt refused all {offered} algorithm(s) its heuristic offered" +
              (search.LastRefusal is { } last ? $" (last: {StatusNames.Cublas((int)last)})" : "");
        return $"GEMM fallback: {op} {shape} runs on gemm.cu (CUDA cores, far slower than cuBLASLt): {reason}. Reported once per shape.";
    }

    /// <summary>cuBLASLt's version number (major·10000 + minor·100 + patch) as "12.4.3".</summary>
    public static string VersionText(ulong version) => $"{version / 10000}.{version / 100 % 100}.{version % 100}";

    /// <summary>
    /// The oldest cuBLASLt (cublasLtGetVersion's number) that has kernels for a compute capability: the cuBLAS of the
    /// CUDA release that added the architecture. Since CUDA 12 cuBLAS's version follows CUDA's; CUDA 11.x shipped
    /// cuBLAS 11.(x+n), e.g. CUDA 11.8 (the first with sm_89 and sm_90) shipped cuBLAS 11.11. Null for a capability
    /// newer than this table: nothing is known, and a refusal at run time still falls back per shape.
    /// </summary>
    public static ulong? MinimumCublasLtVersion(ComputeCapability cc)
    {
        // (major, minor) → version, ascending; an unlisted minor takes the nearest lower entry of its major.
        ReadOnlySpan<(int Major, int Minor, ulong Version)> table =
        [
            (8, 0, 110000), // A100: CUDA 11.0
            (8, 6, 110200), // RTX 30: CUDA 11.1 (cuBLAS 11.2)
            (8, 7, 110500), // Orin: CUDA 11.4 (cuBLAS 11.5)
            (8, 9, 111100), // Ada: CUDA 11.8 (cuBLAS 11.11)
            (9, 0, 111100), // Hopper: CUDA 11.8 (cuBLAS 11.11)
            (10, 0, 120800), // B200: CUDA 12.8
            (10, 3, 120900), // B300: CUDA 12.9
            (11, 0, 130000), // Thor: CUDA 13.0 (sm_101 before)
            (12, 0, 120800), // RTX 50 / RTX PRO Blackwell: CUDA 12.8
            (12, 1, 120900), // DGX Spark: CUDA 12.9
        ];
        ulong? found = null;
        foreach (var (major, minor, version) in table)
            if (major == cc.Major && minor <= cc.Minor)
                found = version;
        return found;
    }

    /// <summary>
    /// Why the loaded cuBLASLt cannot serve this device and driver, or null when it can: older than 11 (no bf16 GEMMs),
    /// a major version newer than the driver's (cuBLAS 13 needs a 13.x driver: its kernels do not load on 12.x), older
    /// than the device's architecture (<see cref="MinimumCublasLtVersion"/>), or CUDA 13's cuBLAS on a device CUDA 13
    /// dropped (compute capability below 7.5). <paramref name="driverVersion"/> is cuDriverGetVersion's 1000·major + 10·minor.
    /// </summary>
    public static string? LibraryProblem(ulong cublasLtVersion, int? driverVersion, ComputeCapability cc)
    {
        ulong major = cublasLtVersion / 10000;
        string lib = $"cuBLASLt {VersionText(cublasLtVersion)}";
        if (major < 11)
            return $"{lib} is older than 11.0, which added bf16 GEMMs";
        if (driverVersion is { } driver && (int)major > driver / 1000)
            return $"{lib} needs a CUDA {major}.x driver; this driver supports CUDA {CudaDriver.FormatVersion(driver)}";
        if (MinimumCublasLtVersion(cc) is { } minimum && cublasLtVersion < minimum)
            return $"{lib} has no kernels for compute capability {cc} (sm_{cc.Architecture}); it needs cuBLASLt {VersionText(minimum)} or newer";
        if (major >= 13 && cc.Architecture < 75)
            return $"{lib} (CUDA 13) no longer supports compute capability {cc}";
        return null;
    }

    /// <summary>The warning for a backend without cuBLASLt although it was asked for: what the probe tried.</summary>
    public static string MissingLibraryWarning(string probe) =>
        $"cuBLASLt not found: every GEMM runs on gemm.cu (CUDA cores, far slower). {probe}";

    /// <summary>The warning for a cuBLASLt that is bypassed: the file, its version (when known) and why.</summary>
    public static string LibraryWarning(string path, ulong? version, string why) =>
        $"cuBLASLt bypassed: {path}{(version is { } v ? $" (version {VersionText(v)})" : "")}: {why}. Every GEMM runs on gemm.cu (CUDA cores, far slower).";

    private static string TypeName(CudaDataType t) => t switch
    {
        CudaDataType.R16BF => "bf16",
        CudaDataType.R32F => "fp32",
        CudaDataType.R16F => "fp16",
        CudaDataType.R64F => "fp64",
        _ => t.ToString(),
    };

    private static string EpilogueName(CublasLtEpilogue e) => e switch
    {
        CublasLtEpilogue.Default => "DEFAULT",
        CublasLtEpilogue.Bias => "BIAS",
        CublasLtEpilogue.Gelu => "GELU",
        CublasLtEpilogue.GeluBias => "GELU_BIAS",
        CublasLtEpilogue.Relu => "RELU",
        CublasLtEpilogue.ReluBias => "RELU_BIAS",
        _ => e.ToString(),
    };
}
