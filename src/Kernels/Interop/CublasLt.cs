using System.Runtime.InteropServices;

namespace AccelAes.Kernels.Interop;

/// <summary>cublasStatus_t (cublas_api.h).</summary>
public enum CublasStatus
{
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_ARCH_MISMATCH = 8,
    CUBLAS_STATUS_MAPPING_ERROR = 11,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_INTERNAL_ERROR = 14,
    CUBLAS_STATUS_NOT_SUPPORTED = 15,
    CUBLAS_STATUS_LICENSE_ERROR = 16,
}

/// <summary>cudaDataType_t values used for GEMM operands (library_types.h).</summary>
public enum CudaDataType
{
    R32F = 0,
    R64F = 1,
    R16F = 2,
    R16BF = 14,
    /// <summary>CUDA_R_8F_E4M3 (torch.float8_e4m3fn): FP8 GEMM operands on sm_89 and later.</summary>
    R8FE4M3 = 28,
}

/// <summary>cublasComputeType_t. The engine uses <see cref="Compute32F"/>: fp32 accumulation for bf16/fp16 inputs.</summary>
public enum CublasComputeType
{
    Compute16F = 64,
    Compute32F = 68,
    Compute32FPedantic = 69,
    Compute64F = 70,
    Compute32FFast16F = 74,
    Compute32FFast16BF = 75,
    Compute32FFastTF32 = 77,
}

/// <summary>cublasOperation_t.</summary>
public enum CublasOperation
{
    N = 0,
    T = 1,
}

/// <summary>cublasLtOrder_t.</summary>
public enum CublasLtOrder
{
    Col = 0,
    Row = 1,
}

/// <summary>cublasLtMatmulDescAttributes_t (the ones the engine sets).</summary>
public enum CublasLtMatmulDescAttribute
{
    ComputeType = 0,   // int32
    ScaleType = 1,     // int32 cudaDataType
    PointerMode = 2,   // int32
    TransA = 3,        // int32 cublasOperation_t
    TransB = 4,        // int32 cublasOperation_t
    TransC = 5,
    FillMode = 6,
    Epilogue = 7,      // uint32 cublasLtEpilogue_t
    BiasPointer = 8,   // void* (device)
    BiasBatchStride = 10,        // int64 elements between the bias vectors of a strided batch
    AlphaVectorBatchStride = 14, // int64 elements between the alpha vectors of a strided batch (ALPHA_DEVICE_VECTOR_BETA_HOST)
    AScalePointer = 17, // void* (device fp32 scalar): A's dequantisation scale for FP8 operands (default 1)
    BScalePointer = 18, // void* (device fp32 scalar): B's dequantisation scale for FP8 operands (default 1)
    BiasDataType = 26, // int32 cudaDataType; default: the D type
}

/// <summary>
/// cublasLtEpilogue_t: work fused into the GEMM's store. GELU is the tanh approximation (cuBLAS docs), which is
/// what DiT MLPs (GELU-tanh) use. The bias is a vector of length rows(D), broadcast along columns.
/// </summary>
public enum CublasLtEpilogue : uint
{
    Default = 1,
    Relu = 2,
    Bias = 4,
    ReluBias = 6,
    Gelu = 32,
    GeluBias = 36,
}

/// <summary>
/// cublasLtPointerMode_t (cublasLt.h): where alpha and beta live. <see cref="AlphaDeviceVectorBetaHost"/>: alpha is a
/// device vector of scale-type values, one per row of D (with a strided batch, ALPHA_VECTOR_BATCH_STRIDE apart), beta a
/// host scalar — the per-output-feature gate of a gated residual (issue 16).
/// </summary>
public enum CublasLtPointerMode
{
    Host = 0,
    Device = 1,
    DeviceVector = 2,
    AlphaDeviceVectorBetaZero = 3,
    AlphaDeviceVectorBetaHost = 4,
}

/// <summary>cublasLtMatrixLayoutAttribute_t.</summary>
public enum CublasLtMatrixLayoutAttribute
{
    Type = 0,               // uint32 cudaDataType
    Order = 1,              // int32 cublasLtOrder_t
    Rows = 2,               // uint64
    Cols = 3,               // uint64
    LeadingDimension = 4,   // int64
    BatchCount = 5,         // int32
    StridedBatchOffset = 6, // int64
}

/// <summary>cublasLtMatmulPreferenceAttributes_t.</summary>
public enum CublasLtMatmulPreferenceAttribute
{
    SearchMode = 0,
    MaxWorkspaceBytes = 1, // uint64
}

public readonly record struct CublasLtHandle(nint Handle);
public readonly record struct CublasLtMatmulDesc(nint Handle);
public readonly record struct CublasLtMatrixLayout(nint Handle);
public readonly record struct CublasLtMatmulPreference(nint Handle);

/// <summary>cublasLtMatmulAlgo_t: 8 opaque 64-bit words.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct CublasLtMatmulAlgo
{
    public fixed ulong Data[8];
}

/// <summary>cublasLtMatmulHeuristicResult_t: algo (64 B), workspaceSize (size_t), state, wavesCount, reserved[4] = 96 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct CublasLtMatmulHeuristicResult
{
    public CublasLtMatmulAlgo Algo;
    public nuint WorkspaceSize;
    public CublasStatus State;
    public float WavesCount;
    public fixed int Reserved[4];
}

internal static unsafe partial class CublasLtNative
{
    private const string Lib = NativeLibraries.CublasLtImport;

    [LibraryImport(Lib)] internal static partial nuint cublasLtGetVersion();
    [LibraryImport(Lib)] internal static partial CublasStatus cublasLtCreate(CublasLtHandle* handle);
    [LibraryImport(Lib)] internal static partial CublasStatus cublasLtDestroy(CublasLtHandle handle);
    [LibraryImport(Lib)] internal static partial CublasStatus cublasLtMatmulDescCreate(CublasLtMatmulDesc* desc, CublasComputeType computeType, CudaDataType scaleType);
    [LibraryImport(Lib)] internal static partial CublasStatus cublasLtMatmulDescDestroy(CublasLtMatmulDesc desc);
    [LibraryImport(Lib)] internal static partial CublasStatus cublasLtMatmulDescSetAttribute(CublasLtMatmulDesc desc, CublasLtMatmulDescAttribute attribute, void* value, nuint size);
    [LibraryImport(Lib)] internal static partial CublasStatus cublasLtMatrixLayoutCreate(CublasLtMatrixLayout* layout, CudaDataType type, ulong rows, ulong cols, long ld);
    [LibraryImport(Lib)] internal static partial CublasStatus cublasLtMatrixLayoutDestroy(CublasLtMatrixLayout layout);
    [LibraryImport(Lib)] internal static partial CublasStatus cublasLtMatrixLayoutSetAttribute(CublasLtMatrixLayout layout, CublasLtMatrixLayoutAttribute attribute, void* value, nuint size);
    [LibraryImport(Lib)] internal static partial CublasStatus cublasLtMatmulPreferenceCreate(CublasLtMatmulPreference* preference);
    [LibraryImport(Lib)] internal static partial CublasStatus cublasLtMatmulPreferenceDestroy(CublasLtMatmulPreference preference);
    [LibraryImport(Lib)] internal static partial CublasStatus cublasLtMatmulPreferenceSetAttribute(CublasLtMatmulPreference preference, CublasLtMatmulPreferenceAttribute attribute, void* value, nuint size);
    [LibraryImport(Lib)]
    internal static partial CublasStatus cublasLtMatmulAlgoGetHeuristic(CublasLtHandle handle, CublasLtMatmulDesc desc,
        CublasLtMatrixLayout a, CublasLtMatrixLayout b, CublasLtMatrixLayout c, CublasLtMatrixLayout d,
        CublasLtMatmulPreference preference, int requestedCount, CublasLtMatmulHeuristicResult* results, int* returnedCount);
    [LibraryImport(Lib)]
    internal static partial CublasStatus cublasLtMatmul(CublasLtHandle handle, CublasLtMatmulDesc desc,
        void* alpha, CuDevicePtr a, CublasLtMatrixLayout aDesc, CuDevicePtr b, CublasLtMatrixLayout bDesc,
        void* beta, CuDevicePtr c, CublasLtMatrixLayout cDesc, CuDevicePtr d, CublasLtMatrixLayout dDesc,
        CublasLtMatmulAlgo* algo, CuDevicePtr workspace, nuint workspaceBytes, CuStream stream);
}

/// <summary>
/// Checked cuBLASLt calls. Layouts are column-major as cuBLAS defines them; a row-major engine computes
/// Y[M×N] = X[M×K]·W[N×K]ᵀ as the column-major Yᵀ[N×M] = W·Xᵀ, i.e. A = W with TransA = T, B = X with
/// TransB = N, both read with their row lengths as leading dimensions.
/// </summary>
public static unsafe class CublasLt
{
    public static bool IsAvailable => NativeLibraries.IsAvailable(CudaLibrary.CublasLt);

    /// <summary>Status name: cublasLtGetStatusName when exported (cuBLAS 11.4.2+), else the header's name.</summary>
    public static string StatusName(CublasStatus status)
    {
        var library = NativeLibraries.Load(CudaLibrary.CublasLt);
        if (library.IsLoaded && NativeLibrary.TryGetExport(library.Handle, "cublasLtGetStatusName", out var fn))
        {
            var name = ((delegate* unmanaged<CublasStatus, byte*>)fn)(status);
            if (name != null)
                return Marshal.PtrToStringUTF8((nint)name) ?? StatusNames.Cublas((int)status);
        }
        return StatusNames.Cublas((int)status);
    }

    /// <summary>Status description: cublasLtGetStatusString when exported, else null.</summary>
    public static string? StatusDescription(CublasStatus status)
    {
        var library = NativeLibraries.Load(CudaLibrary.CublasLt);
        if (library.IsLoaded && NativeLibrary.TryGetExport(library.Handle, "cublasLtGetStatusString", out var fn))
        {
            var text = ((delegate* unmanaged<CublasStatus, byte*>)fn)(status);
            return text == null ? null : Marshal.PtrToStringUTF8((nint)text);
        }
        return null;
    }

    public static void Check(CublasStatus status, string call, string? op = null)
    {
        if (status != CublasStatus.CUBLAS_STATUS_SUCCESS)
            throw new CudaException(CudaApi.CublasLt, call, (int)status, StatusName(status), StatusDescription(status), op);
    }

    /// <summary>cuBLASLt version number (e.g. 120403 for 12.4.3).</summary>
    public static ulong Version()
    {
        NativeLibraries.Require(CudaLibrary.CublasLt);
        return CublasLtNative.cublasLtGetVersion();
    }

    public static CublasLtHandle Create()
    {
        NativeLibraries.Require(CudaLibrary.CublasLt);
        CublasLtHandle handle;
        Check(CublasLtNative.cublasLtCreate(&handle), "cublasLtCreate");
        return handle;
    }

    /// <summary>cublasLtCreate's status, without throwing: a library that cannot initialise is bypassed, not fatal.</summary>
    public static CublasStatus TryCreate(out CublasLtHandle handle)
    {
        NativeLibraries.Require(CudaLibrary.CublasLt);
        CublasLtHandle h = default;
        var status = CublasLtNative.cublasLtCreate(&h);
        handle = status == CublasStatus.CUBLAS_STATUS_SUCCESS ? h : default;
        return status;
    }

    public static void Destroy(CublasLtHandle handle) => Check(CublasLtNative.cublasLtDestroy(handle), "cublasLtDestroy");

    /// <summary>A matmul descriptor; fp32 compute and fp32 alpha/beta by default.</summary>
    public static CublasLtMatmulDesc MatmulDescCreate(CublasComputeType compute = CublasComputeType.Compute32F, CudaDataType scale = CudaDataType.R32F)
    {
        CublasLtMatmulDesc desc;
        Check(CublasLtNative.cublasLtMatmulDescCreate(&desc, compute, scale), "cublasLtMatmulDescCreate");
        return desc;
    }

    public static void MatmulDescDestroy(CublasLtMatmulDesc desc) => Check(CublasLtNative.cublasLtMatmulDescDestroy(desc), "cublasLtMatmulDescDestroy");

    public static void SetTranspose(CublasLtMatmulDesc desc, CublasOperation transA, CublasOperation transB)
    {
        var a = (int)transA;
        var b = (int)transB;
        Check(CublasLtNative.cublasLtMatmulDescSetAttribute(desc, CublasLtMatmulDescAttribute.TransA, &a, sizeof(int)), "cublasLtMatmulDescSetAttribute", "TRANSA");
        Check(CublasLtNative.cublasLtMatmulDescSetAttribute(desc, CublasLtMatmulDescAttribute.TransB, &b, sizeof(int)), "cublasLtMatmulDescSetAttribute", "TRANSB");
    }

    /// <summary>Sets the epilogue and, for the BIAS variants, the bias vector (device pointer) and its type.</summary>
    public static void SetEpilogue(CublasLtMatmulDesc desc, CublasLtEpilogue epilogue, CuDevicePtr bias = default, CudaDataType? biasType = null)
    {
        var value = (uint)epilogue;
        Check(CublasLtNative.cublasLtMatmulDescSetAttribute(desc, CublasLtMatmulDescAttribute.Epilogue, &value, sizeof(uint)),
            "cublasLtMatmulDescSetAttribute", $"EPILOGUE={epilogue}");
        if (epilogue is CublasLtEpilogue.Bias or CublasLtEpilogue.GeluBias or CublasLtEpilogue.ReluBias)
        {
            if (bias.IsNull)
                throw new ArgumentException($"epilogue {epilogue} needs a bias pointer", nameof(bias));
            var pointer = bias.Address;
            Check(CublasLtNative.cublasLtMatmulDescSetAttribute(desc, CublasLtMatmulDescAttribute.BiasPointer, &pointer, sizeof(ulong)),
                "cublasLtMatmulDescSetAttribute", "BIAS_POINTER");
            if (biasType is { } type)
            {
                var t = (int)type;
                Check(CublasLtNative.cublasLtMatmulDescSetAttribute(desc, CublasLtMatmulDescAttribute.BiasDataType, &t, sizeof(int)),
                    "cublasLtMatmulDescSetAttribute", "BIAS_DATA_TYPE");
            }
        }
    }

    /// <summary>Sets the pointer mode of alpha and beta (CUBLASLT_MATMUL_DESC_POINTER_MODE).</summary>
    public static void SetPointerMode(CublasLtMatmulDesc desc, CublasLtPointerMode mode)
    {
        var value = (int)mode;
        Check(CublasLtNative.cublasLtMatmulDescSetAttribute(desc, CublasLtMatmulDescAttribute.PointerMode, &value, sizeof(int)),
            "cublasLtMatmulDescSetAttribute", $"POINTER_MODE={mode}");
    }

    /// <summary>Sets a device-pointer descriptor attribute (the FP8 operands' A / B scale pointers).</summary>
    public static void SetPointer(CublasLtMatmulDesc desc, CublasLtMatmulDescAttribute attribute, CuDevicePtr pointer)
    {
        var value = pointer.Address;
        Check(CublasLtNative.cublasLtMatmulDescSetAttribute(desc, attribute, &value, sizeof(ulong)), "cublasLtMatmulDescSetAttribute", attribute.ToString());
    }

    /// <summary>Sets an int64 descriptor attribute (the batch strides of the bias and alpha vectors).</summary>
    public static void SetInt64(CublasLtMatmulDesc desc, CublasLtMatmulDescAttribute attribute, long value)
    {
        Check(CublasLtNative.cublasLtMatmulDescSetAttribute(desc, attribute, &value, sizeof(long)), "cublasLtMatmulDescSetAttribute", attribute.ToString());
    }

    /// <summary>
    /// <see cref="TryMatmul(CublasLtHandle, CublasLtMatmulDesc, float, CuDevicePtr, CublasLtMatrixLayout, CuDevicePtr, CublasLtMatrixLayout, float, CuDevicePtr, CublasLtMatrixLayout, CuDevicePtr, CublasLtMatrixLayout, in CublasLtMatmulAlgo, CuDevicePtr, ulong, CuStream)"/>
    /// with alpha a device vector (pointer modes ALPHA_DEVICE_VECTOR_*): its device address is passed as the alpha pointer.
    /// </summary>
    public static CublasStatus TryMatmulAlphaVector(CublasLtHandle handle, CublasLtMatmulDesc desc, CuDevicePtr alphaVector,
        CuDevicePtr a, CublasLtMatrixLayout aLayout, CuDevicePtr b, CublasLtMatrixLayout bLayout, float beta,
        CuDevicePtr c, CublasLtMatrixLayout cLayout, CuDevicePtr d, CublasLtMatrixLayout dLayout,
        in CublasLtMatmulAlgo algo, CuDevicePtr workspace, ulong workspaceBytes, CuStream stream)
    {
        fixed (CublasLtMatmulAlgo* algoPtr = &algo)
            return CublasLtNative.cublasLtMatmul(handle, desc, (void*)alphaVector.Address, a, aLayout, b, bLayout, &beta, c, cLayout, d, dLayout,
                algoPtr, workspace, (nuint)workspaceBytes, stream);
    }

    /// <summary>A column-major matrix layout (cuBLAS convention): rows × cols with leading dimension ld ≥ rows.</summary>
    public static CublasLtMatrixLayout MatrixLayoutCreate(CudaDataType type, ulong rows, ulong cols, long ld)
    {
        CublasLtMatrixLayout layout;
        Check(CublasLtNative.cublasLtMatrixLayoutCreate(&layout, type, rows, cols, ld), "cublasLtMatrixLayoutCreate", $"{type} {rows}x{cols} ld {ld}");
        return layout;
    }

    /// <summary>Makes a layout a strided batch of <paramref name="count"/> matrices, <paramref name="stride"/> elements apart.</summary>
    public static void SetBatch(CublasLtMatrixLayout layout, int count, long stride)
    {
        Check(CublasLtNative.cublasLtMatrixLayoutSetAttribute(layout, CublasLtMatrixLayoutAttribute.BatchCount, &count, sizeof(int)), "cublasLtMatrixLayoutSetAttribute", "BATCH_COUNT");
        Check(CublasLtNative.cublasLtMatrixLayoutSetAttribute(layout, CublasLtMatrixLayoutAttribute.StridedBatchOffset, &stride, sizeof(long)), "cublasLtMatrixLayoutSetAttribute", "STRIDED_BATCH_OFFSET");
    }

    public static void MatrixLayoutDestroy(CublasLtMatrixLayout layout) => Check(CublasLtNative.cublasLtMatrixLayoutDestroy(layout), "cublasLtMatrixLayoutDestroy");

    /// <summary>A preference that allows up to <paramref name="maxWorkspaceBytes"/> of workspace.</summary>
    public static CublasLtMatmulPreference PreferenceCreate(ulong maxWorkspaceBytes)
    {
        CublasLtMatmulPreference preference;
        Check(CublasLtNative.cublasLtMatmulPreferenceCreate(&preference), "cublasLtMatmulPreferenceCreate");
        Check(CublasLtNative.cublasLtMatmulPreferenceSetAttribute(preference, CublasLtMatmulPreferenceAttribute.MaxWorkspaceBytes, &maxWorkspaceBytes, sizeof(ulong)),
            "cublasLtMatmulPreferenceSetAttribute", "MAX_WORKSPACE_BYTES");
        return preference;
    }

    public static void PreferenceDestroy(CublasLtMatmulPreference preference) => Check(CublasLtNative.cublasLtMatmulPreferenceDestroy(preference), "cublasLtMatmulPreferenceDestroy");

    /// <summary>
    /// Up to <paramref name="maxResults"/> algorithms, best first, and cuBLASLt's status, without throwing: the GEMM
    /// dispatch decides which statuses only mean "no algorithm here" (it then falls back) and which are errors.
    /// </summary>
    public static (CublasStatus Status, CublasLtMatmulHeuristicResult[] Results) TryHeuristic(CublasLtHandle handle, CublasLtMatmulDesc desc,
        CublasLtMatrixLayout a, CublasLtMatrixLayout b, CublasLtMatrixLayout c, CublasLtMatrixLayout d,
        CublasLtMatmulPreference preference, int maxResults)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxResults, 1);
        var results = new CublasLtMatmulHeuristicResult[maxResults];
        int returned = 0;
        CublasStatus status;
        fixed (CublasLtMatmulHeuristicResult* p = results)
            status = CublasLtNative.cublasLtMatmulAlgoGetHeuristic(handle, desc, a, b, c, d, preference, maxResults, p, &returned);
        return (status, status == CublasStatus.CUBLAS_STATUS_SUCCESS ? results[..Math.Clamp(returned, 0, maxResults)] : []);
    }

    /// <summary>Up to <paramref name="maxResults"/> algorithms, best first; empty when none fits (cuBLASLt says NOT_SUPPORTED).</summary>
    public static CublasLtMatmulHeuristicResult[] Heuristic(CublasLtHandle handle, CublasLtMatmulDesc desc,
        CublasLtMatrixLayout a, CublasLtMatrixLayout b, CublasLtMatrixLayout c, CublasLtMatrixLayout d,
        CublasLtMatmulPreference preference, int maxResults = 1, string? op = null)
    {
        var results = new CublasLtMatmulHeuristicResult[maxResults];
        int returned;
        CublasStatus status;
        fixed (CublasLtMatmulHeuristicResult* p = results)
            status = CublasLtNative.cublasLtMatmulAlgoGetHeuristic(handle, desc, a, b, c, d, preference, maxResults, p, &returned);
        if (status == CublasStatus.CUBLAS_STATUS_NOT_SUPPORTED)
            return [];
        Check(status, "cublasLtMatmulAlgoGetHeuristic", op);
        return results[..returned];
    }

    /// <summary>
    /// <see cref="Matmul"/> returning cuBLASLt's status instead of throwing, so a caller can try the heuristic's next
    /// algorithm when one is refused (a refusal writes nothing).
    /// </summary>
    public static CublasStatus TryMatmul(CublasLtHandle handle, CublasLtMatmulDesc desc, float alpha,
        CuDevicePtr a, CublasLtMatrixLayout aLayout, CuDevicePtr b, CublasLtMatrixLayout bLayout, float beta,
        CuDevicePtr c, CublasLtMatrixLayout cLayout, CuDevicePtr d, CublasLtMatrixLayout dLayout,
        in CublasLtMatmulAlgo algo, CuDevicePtr workspace, ulong workspaceBytes, CuStream stream)
    {
        fixed (CublasLtMatmulAlgo* algoPtr = &algo)
            return CublasLtNative.cublasLtMatmul(handle, desc, &alpha, a, aLayout, b, bLayout, &beta, c, cLayout, d, dLayout,
                algoPtr, workspace, (nuint)workspaceBytes, stream);
    }

    /// <summary>D = alpha·op(A)·op(B) + beta·C (+ epilogue), fp32 alpha/beta (the descriptor's scale type).</summary>
    public static void Matmul(CublasLtHandle handle, CublasLtMatmulDesc desc, float alpha,
        CuDevicePtr a, CublasLtMatrixLayout aLayout, CuDevicePtr b, CublasLtMatrixLayout bLayout, float beta,
        CuDevicePtr c, CublasLtMatrixLayout cLayout, CuDevicePtr d, CublasLtMatrixLayout dLayout,
        in CublasLtMatmulAlgo algo, CuDevicePtr workspace, ulong workspaceBytes, CuStream stream, string? op = null)
    {
        fixed (CublasLtMatmulAlgo* algoPtr = &algo)
            Check(CublasLtNative.cublasLtMatmul(handle, desc, &alpha, a, aLayout, b, bLayout, &beta, c, cLayout, d, dLayout,
                algoPtr, workspace, (nuint)workspaceBytes, stream), "cublasLtMatmul", op);
    }
}
