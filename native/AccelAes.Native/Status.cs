using AccelAes.Engine.Backends;
using AccelAes.Kernels;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.Tokenizers;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Weights;

namespace AccelAes.Native;

/// <summary>accelaes_status (accelaes.h): the values are ABI.</summary>
internal enum Status
{
    Ok = 0,
    InvalidArgument = 1,
    NotFound = 2,
    InvalidModel = 3,
    Unsupported = 4,
    Cancelled = 5,
    OutOfMemory = 6,
    NoGpu = 7,
    BufferTooSmall = 8,
    InvalidHandle = 9,
    Busy = 10,
    Io = 11,
    Internal = 99,
}

/// <summary>A failure the C ABI layer itself detected, with the status it returns.</summary>
internal sealed class NativeError(Status status, string message) : Exception(message)
{
    public Status Status { get; } = status;
}

/// <summary>Turns whatever an export caught into a status and a message; nothing is rethrown across the boundary.</summary>
internal static class ErrorMapping
{
    /// <summary>
    /// <paramref name="userError"/> is the status of a plain <see cref="AccelAesException"/> (a user-caused error the engine
    /// names but does not type) in the calling function: a bad model when loading, a bad option when generating.
    /// </summary>
    public static (Status, string) Map(Exception e, Status userError) => e switch
    {
        NativeError n => (n.Status, n.Message),
        OperationCanceledException => (Status.Cancelled, "Cancelled by the progress callback."),
        OutOfMemoryException or InsufficientMemoryException => (Status.OutOfMemory, $"Out of host memory: {e.Message}"),
        CudaUnavailableException or GpuUnavailableException => (Status.NoGpu, e.Message),
        CudaException { StatusName: "CUDA_ERROR_OUT_OF_MEMORY" } => (Status.OutOfMemory, e.Message),
        CudaException { StatusName: "CUDA_ERROR_NO_DEVICE" or "CUDA_ERROR_STUB_LIBRARY" or "CUDA_ERROR_INVALID_DEVICE" or "CUDA_ERROR_NOT_INITIALIZED" }
            => (Status.NoGpu, e.Message),
        SafeTensorsFormatException or MissingTensorException or ConfigException or TokenizerException or WeightShapeException
            => (Status.InvalidModel, e.Message),
        MemoryPlanException => (Status.OutOfMemory, e.Message),
        AccelAesException => (userError, e.Message),
        FileNotFoundException or DirectoryNotFoundException => (Status.NotFound, e.Message),
        IOException or UnauthorizedAccessException => (Status.Io, e.Message),
        _ => (Status.Internal, $"Internal error (please report it): {e}"),
    };

    public static string Name(int status) => status switch
    {
        (int)Status.Ok => "ACCELAES_OK",
        (int)Status.InvalidArgument => "ACCELAES_ERR_INVALID_ARGUMENT",
        (int)Status.NotFound => "ACCELAES_ERR_NOT_FOUND",
        (int)Status.InvalidModel => "ACCELAES_ERR_INVALID_MODEL",
        (int)Status.Unsupported => "ACCELAES_ERR_UNSUPPORTED",
        (int)Status.Cancelled => "ACCELAES_ERR_CANCELLED",
        (int)Status.OutOfMemory => "ACCELAES_ERR_OUT_OF_MEMORY",
        (int)Status.NoGpu => "ACCELAES_ERR_NO_GPU",
        (int)Status.BufferTooSmall => "ACCELAES_ERR_BUFFER_TOO_SMALL",
        (int)Status.InvalidHandle => "ACCELAES_ERR_INVALID_HANDLE",
        (int)Status.Busy => "ACCELAES_ERR_BUSY",
        (int)Status.Io => "ACCELAES_ERR_IO",
        (int)Status.Internal => "ACCELAES_ERR_INTERNAL",
        _ => "ACCELAES_UNKNOWN_STATUS",
    };
}
