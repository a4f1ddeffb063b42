using AccelAes.Kernels.Interop;

namespace AccelAes.Kernels;

/// <summary>Which native API a failing status came from.</summary>
public enum CudaApi
{
    Driver,
    Nvrtc,
    CublasLt,
}

/// <summary>
/// A CUDA driver, NVRTC or cuBLASLt call returned a failure status. The message names the call, the
/// status (number, symbolic name and the library's own description) and the operation the caller was
/// performing (the op and its shapes), so a log line alone says what went wrong where.
/// </summary>
public class CudaException : AccelAesException
{
    public CudaException(CudaApi api, string call, int status, string statusName, string? description, string? operation)
        : base(Format(call, status, statusName, description, operation))
    {
        Api = api;
        Call = call;
        Status = status;
        StatusName = statusName;
        Description = description;
        Operation = operation;
    }

    public CudaApi Api { get; }

    /// <summary>The C entry point that failed, e.g. <c>cuMemAlloc_v2</c>.</summary>
    public string Call { get; }

    /// <summary>The raw status code (CUresult, nvrtcResult or cublasStatus_t).</summary>
    public int Status { get; }

    /// <summary>Symbolic name, e.g. <c>CUDA_ERROR_OUT_OF_MEMORY</c>.</summary>
    public string StatusName { get; }

    /// <summary>The library's description of the status, when it has one.</summary>
    public string? Description { get; }

    /// <summary>What the caller was doing (op name and shapes), as passed to the checked wrapper.</summary>
    public string? Operation { get; }

    private static string Format(string call, int status, string name, string? description, string? operation)
    {
        var text = $"{call} failed: {name} ({status})";
        if (!string.IsNullOrWhiteSpace(description) && description != name)
            text += $": {description}";
        if (!string.IsNullOrWhiteSpace(operation))
            text += $" [during {operation}]";
        return text;
    }
}

/// <summary>
/// A CUDA library (driver, NVRTC, cuBLASLt) could not be loaded. The message lists every file name and
/// directory tried and why each failed, and how to point the engine at a different location.
/// </summary>
public class CudaUnavailableException : AccelAesException
{
    public CudaUnavailableException(LibraryLoadResult result)
        : base(result.Describe())
    {
        Library = result.Library;
        Attempts = result.Attempts;
    }

    public CudaLibrary Library { get; }

    public IReadOnlyList<LibraryAttempt> Attempts { get; }
}

/// <summary>
/// NVRTC rejected a kernel source. The message carries the source file name, the architecture, the
/// options and the complete NVRTC log (which has the line numbers).
/// </summary>
public class KernelCompileException : AccelAesException
{
    public KernelCompileException(string sourceFile, string architecture, string log, IReadOnlyList<string> options, string? statusName)
        : base($"NVRTC could not compile {sourceFile} for {architecture}"
               + (statusName is null ? "" : $" ({statusName})")
               + $"\noptions: {string.Join(' ', options)}\n{log.TrimEnd()}")
    {
        SourceFile = sourceFile;
        Architecture = architecture;
        Log = log;
        Options = options;
        StatusName = statusName;
    }

    /// <summary>NVRTC's status ("NVRTC_ERROR_COMPILATION"), or what else went wrong; null when none applies.</summary>
    public string? StatusName { get; }

    public string SourceFile { get; }

    public string Architecture { get; }

    /// <summary>The full NVRTC program log.</summary>
    public string Log { get; }

    public IReadOnlyList<string> Options { get; }
}

/// <summary>
/// The compiler itself died (ptxas crashing inside NVRTC: a stack overflow, a segfault) while compiling a kernel
/// in an isolated child process. The engine survived; the message names the file, the target, the NVRTC version,
/// the options and how the child ended, so the combination can be avoided (another target, other options).
/// </summary>
public sealed class KernelCompilerCrashException : KernelCompileException
{
    public KernelCompilerCrashException(string sourceFile, string architecture, string nvrtcVersion, IReadOnlyList<string> options, string howItEnded, string output)
        : base(sourceFile, architecture,
            $"NVRTC {nvrtcVersion} crashed ({howItEnded}) in an isolated compile; the engine is unaffected." +
            (output.Length == 0 ? "" : "\nlast output of the compiler process:\n" + output),
            options, "compiler crash")
    {
        NvrtcVersion = nvrtcVersion;
        HowItEnded = howItEnded;
    }

    public string NvrtcVersion { get; }

    /// <summary>"exit code 134 (SIGABRT)", "signal 11 (SIGSEGV)".</summary>
    public string HowItEnded { get; }
}
