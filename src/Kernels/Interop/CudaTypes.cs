using System.Runtime.CompilerServices;

// Every type crossing into native code here is blittable; no runtime marshalling is needed or wanted (NativeAOT).
[assembly: DisableRuntimeMarshalling]

namespace AccelAes.Kernels.Interop;

// Opaque driver handles, typed so a stream cannot be passed where an event is expected.
// Each is exactly one pointer wide, like the C typedef it stands for.

/// <summary>CUcontext.</summary>
public readonly record struct CuContext(nint Handle) { public bool IsNull => Handle == 0; }

/// <summary>CUmodule.</summary>
public readonly record struct CuModule(nint Handle) { public bool IsNull => Handle == 0; }

/// <summary>CUfunction.</summary>
public readonly record struct CuFunction(nint Handle) { public bool IsNull => Handle == 0; }

/// <summary>CUstream; <see cref="Default"/> is the legacy default stream (NULL).</summary>
public readonly record struct CuStream(nint Handle)
{
    public static CuStream Default => default;
    public bool IsNull => Handle == 0;
}

/// <summary>CUevent.</summary>
public readonly record struct CuEvent(nint Handle) { public bool IsNull => Handle == 0; }

/// <summary>CUgraph.</summary>
public readonly record struct CuGraph(nint Handle) { public bool IsNull => Handle == 0; }

/// <summary>CUgraphExec.</summary>
public readonly record struct CuGraphExec(nint Handle) { public bool IsNull => Handle == 0; }

/// <summary>CUgraphNode.</summary>
public readonly record struct CuGraphNode(nint Handle);

/// <summary>CUdeviceptr: a 64-bit device address (unsigned long long since CUDA 3.2's _v2 API).</summary>
public readonly record struct CuDevicePtr(ulong Address)
{
    public bool IsNull => Address == 0;
    public static CuDevicePtr operator +(CuDevicePtr p, ulong bytes) => new(p.Address + bytes);
    public override string ToString() => $"0x{Address:x}";
}

/// <summary>Grid or block dimensions of a launch.</summary>
public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1)
{
    public static implicit operator Dim3(uint x) => new(x);
    public override string ToString() => $"({X},{Y},{Z})";
}

/// <summary>CUresult, values as in cuda.h (CUDA 12.x/13.x; codes only ever get added).</summary>
public enum CuResult
{
    CUDA_SUCCESS = 0,
    CUDA_ERROR_INVALID_VALUE = 1,
    CUDA_ERROR_OUT_OF_MEMORY = 2,
    CUDA_ERROR_NOT_INITIALIZED = 3,
    CUDA_ERROR_DEINITIALIZED = 4,
    CUDA_ERROR_PROFILER_DISABLED = 5,
    CUDA_ERROR_PROFILER_NOT_INITIALIZED = 6,
    CUDA_ERROR_PROFILER_ALREADY_STARTED = 7,
    CUDA_ERROR_PROFILER_ALREADY_STOPPED = 8,
    CUDA_ERROR_INVALID_PITCH_VALUE = 12,
    CUDA_ERROR_STUB_LIBRARY = 34,
    CUDA_ERROR_DEVICE_UNAVAILABLE = 46,
    CUDA_ERROR_NO_DEVICE = 100,
    CUDA_ERROR_INVALID_DEVICE = 101,
    CUDA_ERROR_DEVICE_NOT_LICENSED = 102,
    CUDA_ERROR_INVALID_IMAGE = 200,
    CUDA_ERROR_INVALID_CONTEXT = 201,
    CUDA_ERROR_CONTEXT_ALREADY_CURRENT = 202,
    CUDA_ERROR_MAP_FAILED = 205,
    CUDA_ERROR_UNMAP_FAILED = 206,
    CUDA_ERROR_ARRAY_IS_MAPPED = 207,
    CUDA_ERROR_ALREADY_MAPPED = 208,
    CUDA_ERROR_NO_BINARY_FOR_GPU = 209,
    CUDA_ERROR_ALREADY_ACQUIRED = 210,
    CUDA_ERROR_NOT_MAPPED = 211,
    CUDA_ERROR_NOT_MAPPED_AS_ARRAY = 212,
    CUDA_ERROR_NOT_MAPPED_AS_POINTER = 213,
    CUDA_ERROR_ECC_UNCORRECTABLE = 214,
    CUDA_ERROR_UNSUPPORTED_LIMIT = 215,
    CUDA_ERROR_CONTEXT_ALREADY_IN_USE = 216,
    CUDA_ERROR_PEER_ACCESS_UNSUPPORTED = 217,
    CUDA_ERROR_INVALID_PTX = 218,
    CUDA_ERROR_INVALID_GRAPHICS_CONTEXT = 219,
    CUDA_ERROR_NVLINK_UNCORRECTABLE = 220,
    CUDA_ERROR_JIT_COMPILER_NOT_FOUND = 221,
    CUDA_ERROR_UNSUPPORTED_PTX_VERSION = 222,
    CUDA_ERROR_JIT_COMPILATION_DISABLED = 223,
    CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY = 224,
    CUDA_ERROR_UNSUPPORTED_DEVSIDE_SYNC = 225,
    CUDA_ERROR_INVALID_SOURCE = 300,
    CUDA_ERROR_FILE_NOT_FOUND = 301,
    CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND = 302,
    CUDA_ERROR_SHARED_OBJECT_INIT_FAILED = 303,
    CUDA_ERROR_OPERATING_SYSTEM = 304,
    CUDA_ERROR_INVALID_HANDLE = 400,
    CUDA_ERROR_ILLEGAL_STATE = 401,
    CUDA_ERROR_LOSSY_QUERY = 402,
    CUDA_ERROR_NOT_FOUND = 500,
    CUDA_ERROR_NOT_READY = 600,
    CUDA_ERROR_ILLEGAL_ADDRESS = 700,
    CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
    CUDA_ERROR_LAUNCH_TIMEOUT = 702,
    CUDA_ERROR_LAUNCH_INCOMPATIBLE_TEXTURING = 703,
    CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED = 704,
    CUDA_ERROR_PEER_ACCESS_NOT_ENABLED = 705,
    CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE = 708,
    CUDA_ERROR_CONTEXT_IS_DESTROYED = 709,
    CUDA_ERROR_ASSERT = 710,
    CUDA_ERROR_TOO_MANY_PEERS = 711,
    CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED = 712,
    CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED = 713,
    CUDA_ERROR_HARDWARE_STACK_ERROR = 714,
    CUDA_ERROR_ILLEGAL_INSTRUCTION = 715,
    CUDA_ERROR_MISALIGNED_ADDRESS = 716,
    CUDA_ERROR_INVALID_ADDRESS_SPACE = 717,
    CUDA_ERROR_INVALID_PC = 718,
    CUDA_ERROR_LAUNCH_FAILED = 719,
    CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE = 720,
    CUDA_ERROR_NOT_PERMITTED = 800,
    CUDA_ERROR_NOT_SUPPORTED = 801,
    CUDA_ERROR_SYSTEM_NOT_READY = 802,
    CUDA_ERROR_SYSTEM_DRIVER_MISMATCH = 803,
    CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE = 804,
    CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
    CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901,
    CUDA_ERROR_STREAM_CAPTURE_MERGE = 902,
    CUDA_ERROR_STREAM_CAPTURE_UNMATCHED = 903,
    CUDA_ERROR_STREAM_CAPTURE_UNJOINED = 904,
    CUDA_ERROR_STREAM_CAPTURE_ISOLATION = 905,
    CUDA_ERROR_STREAM_CAPTURE_IMPLICIT = 906,
    CUDA_ERROR_CAPTURED_EVENT = 907,
    CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD = 908,
    CUDA_ERROR_TIMEOUT = 909,
    CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE = 910,
    CUDA_ERROR_EXTERNAL_DEVICE = 911,
    CUDA_ERROR_INVALID_CLUSTER_SIZE = 912,
    CUDA_ERROR_UNKNOWN = 999,
}

/// <summary>CUdevice_attribute values the engine reads (cuda.h numbering).</summary>
public enum CuDeviceAttribute
{
    MaxThreadsPerBlock = 1,
    MaxSharedMemoryPerBlock = 8,
    WarpSize = 10,
    ClockRate = 13,                       // kHz
    MultiprocessorCount = 16,
    MemoryClockRate = 36,                 // kHz
    GlobalMemoryBusWidth = 37,            // bits
    L2CacheSize = 38,                     // bytes
    MaxThreadsPerMultiprocessor = 39,
    ComputeCapabilityMajor = 75,
    ComputeCapabilityMinor = 76,
    MaxSharedMemoryPerMultiprocessor = 81,
    MaxRegistersPerMultiprocessor = 82,
    MaxSharedMemoryPerBlockOptin = 97,
    MaxBlocksPerMultiprocessor = 106,
    ReservedSharedMemoryPerBlock = 111,   // bytes the driver reserves per CTA (1 KiB on sm_80 and newer)
}

/// <summary>CUfunction_attribute (cuda.h numbering).</summary>
public enum CuFunctionAttribute
{
    MaxThreadsPerBlock = 0,
    SharedSizeBytes = 1,
    ConstSizeBytes = 2,
    LocalSizeBytes = 3,
    NumRegs = 4,
    PtxVersion = 5,
    BinaryVersion = 6,
    CacheModeCa = 7,
    MaxDynamicSharedSizeBytes = 8,
    PreferredSharedMemoryCarveout = 9,
}

/// <summary>CUjit_option values used for module loading diagnostics.</summary>
public enum CuJitOption
{
    InfoLogBuffer = 3,
    InfoLogBufferSizeBytes = 4,
    ErrorLogBuffer = 5,
    ErrorLogBufferSizeBytes = 6,
    LogVerbose = 12,
}

/// <summary>CUstreamCaptureMode.</summary>
public enum CuStreamCaptureMode
{
    Global = 0,
    ThreadLocal = 1,
    Relaxed = 2,
}

/// <summary>CUgraphExecUpdateResult.</summary>
public enum CuGraphExecUpdateResult
{
    Success = 0,
    Error = 1,
    TopologyChanged = 2,
    NodeTypeChanged = 3,
    FunctionChanged = 4,
    ParametersChanged = 5,
    NotSupported = 6,
    UnsupportedFunctionChange = 7,
    AttributesChanged = 8,
}

/// <summary>CUgraphExecUpdateResultInfo (CUDA 12.0+): a 4-byte enum, then two pointers (so 24 bytes on 64-bit).</summary>
public struct CuGraphExecUpdateResultInfo
{
    public CuGraphExecUpdateResult Result;
    public CuGraphNode ErrorNode;
    public CuGraphNode ErrorFromNode;
}

/// <summary>Flags of cuStreamCreate.</summary>
[Flags]
public enum CuStreamFlags : uint
{
    Default = 0,
    NonBlocking = 1,
}

/// <summary>Flags of cuMemHostAlloc (cuda.h CU_MEMHOSTALLOC_*).</summary>
[Flags]
public enum CuMemHostAllocFlags : uint
{
    Default = 0,
    /// <summary>Pinned for every context, not only the current one.</summary>
    Portable = 1,
    /// <summary>Mapped into the device address space.</summary>
    DeviceMap = 2,
    /// <summary>Write-combined: faster host→device transfers, very slow host reads.</summary>
    WriteCombined = 4,
}

/// <summary>Flags of cuEventCreate.</summary>
[Flags]
public enum CuEventFlags : uint
{
    Default = 0,
    BlockingSync = 1,
    DisableTiming = 2,
}
