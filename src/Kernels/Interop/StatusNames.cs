namespace AccelAes.Kernels.Interop;

/// <summary>
/// Symbolic names of status codes from the C headers, for messages when the library cannot be asked
/// (not loaded) or has no name function (cuBLASLt before 11.4). Unknown codes get a name that still
/// carries the number.
/// </summary>
public static class StatusNames
{
    /// <summary>CUresult name, e.g. 34 → CUDA_ERROR_STUB_LIBRARY.</summary>
    public static string Driver(int code) =>
        Enum.IsDefined((CuResult)code) ? Enum.GetName((CuResult)code)! : $"CUDA_ERROR_UNKNOWN_CODE_{code}";

    /// <summary>nvrtcResult name, e.g. 6 → NVRTC_ERROR_COMPILATION.</summary>
    public static string Nvrtc(int code) =>
        Enum.IsDefined((NvrtcResult)code) ? Enum.GetName((NvrtcResult)code)! : $"NVRTC_ERROR_UNKNOWN_CODE_{code}";

    /// <summary>cublasStatus_t name, e.g. 15 → CUBLAS_STATUS_NOT_SUPPORTED.</summary>
    public static string Cublas(int code) =>
        Enum.IsDefined((CublasStatus)code) ? Enum.GetName((CublasStatus)code)! : $"CUBLAS_STATUS_UNKNOWN_CODE_{code}";
}
