using System.Runtime.InteropServices;
using System.Text;

namespace AccelAes.Kernels.Interop;

/// <summary>
/// Checked CUDA driver API: each method calls one driver entry point and throws <see cref="CudaException"/>
/// naming the call, the status and <c>op</c> (the caller's description: op name and shapes) on failure.
/// The driver must have been initialised with <see cref="Init"/> (which also verifies that libcuda loaded).
/// </summary>
public static unsafe class CudaDriver
{
    /// <summary>Symbolic name of a driver status: the driver's own (cuGetErrorName) when loaded, else cuda.h's.</summary>
    public static string ErrorName(CuResult result)
    {
        if (NativeLibraries.IsAvailable(CudaLibrary.Driver))
        {
            byte* name = null;
            if (CuNative.cuGetErrorName(result, &name) == CuResult.CUDA_SUCCESS && name != null)
                return Marshal.PtrToStringUTF8((nint)name) ?? StatusNames.Driver((int)result);
        }
        return StatusNames.Driver((int)result);
    }

    /// <summary>The driver's description of a status (cuGetErrorString), or null without a driver.</summary>
    public static string? ErrorDescription(CuResult result)
    {
        if (!NativeLibraries.IsAvailable(CudaLibrary.Driver))
            return null;
        byte* text = null;
        return CuNative.cuGetErrorString(result, &text) == CuResult.CUDA_SUCCESS && text != null
            ? Marshal.PtrToStringUTF8((nint)text)
            : null;
    }

    /// <summary>Throws <see cref="CudaException"/> unless <paramref name="result"/> is CUDA_SUCCESS.</summary>
    public static void Check(CuResult result, string call, string? op = null)
    {
        if (result != CuResult.CUDA_SUCCESS)
            throw new CudaException(CudaApi.Driver, call, (int)result, ErrorName(result), ErrorDescription(result), op);
    }

    // ---- initialisation -------------------------------------------------------------------------------

    /// <summary>cuInit(0) without throwing; <see cref="CudaUnavailableException"/> if libcuda is missing.</summary>
    public static CuResult TryInit()
    {
        NativeLibraries.Require(CudaLibrary.Driver);
        return CuNative.cuInit(0);
    }

    /// <summary>cuInit(0).</summary>
    public static void Init() => Check(TryInit(), "cuInit");

    /// <summary>Driver CUDA version as 1000·major + 10·minor (12040 = 12.4). Works before cuInit.</summary>
    public static int DriverVersion()
    {
        NativeLibraries.Require(CudaLibrary.Driver);
        int version;
        Check(CuNative.cuDriverGetVersion(&version), "cuDriverGetVersion");
        return version;
    }

    // ---- devices --------------------------------------------------------------------------------------

    public static int DeviceCount()
    {
        int count;
        Check(CuNative.cuDeviceGetCount(&count), "cuDeviceGetCount");
        return count;
    }

    public static int DeviceGet(int ordinal)
    {
        int device;
        Check(CuNative.cuDeviceGet(&device, ordinal), "cuDeviceGet", $"ordinal {ordinal}");
        return device;
    }

    public static string DeviceName(int device)
    {
        var buffer = stackalloc byte[256];
        Check(CuNative.cuDeviceGetName(buffer, 256, device), "cuDeviceGetName");
        return Marshal.PtrToStringUTF8((nint)buffer) ?? "";
    }

    public static int DeviceAttribute(int device, CuDeviceAttribute attribute)
    {
        int value;
        Check(CuNative.cuDeviceGetAttribute(&value, attribute, device), "cuDeviceGetAttribute", attribute.ToString());
        return value;
    }

    /// <summary>Like <see cref="DeviceAttribute"/> but null when the driver does not know the attribute.</summary>
    public static int? TryDeviceAttribute(int device, CuDeviceAttribute attribute)
    {
        int value;
        return CuNative.cuDeviceGetAttribute(&value, attribute, device) == CuResult.CUDA_SUCCESS ? value : null;
    }

    public static ulong DeviceTotalMemory(int device)
    {
        nuint bytes;
        Check(CuNative.cuDeviceTotalMem(&bytes, device), "cuDeviceTotalMem_v2");
        return bytes;
    }

    // ---- contexts -------------------------------------------------------------------------------------

    public static CuContext PrimaryContextRetain(int device)
    {
        CuContext context;
        Check(CuNative.cuDevicePrimaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain", $"device {device}");
        return context;
    }

    public static void PrimaryContextRelease(int device) =>
        Check(CuNative.cuDevicePrimaryCtxRelease(device), "cuDevicePrimaryCtxRelease_v2", $"device {device}");

    public static void ContextSetCurrent(CuContext context) => Check(CuNative.cuCtxSetCurrent(context), "cuCtxSetCurrent");

    public static CuContext ContextGetCurrent()
    {
        CuContext context;
        Check(CuNative.cuCtxGetCurrent(&context), "cuCtxGetCurrent");
        return context;
    }

    public static void ContextSynchronize(string? op = null) => Check(CuNative.cuCtxSynchronize(), "cuCtxSynchronize", op);

    /// <summary>Free and total device memory of the current context's device, in bytes.</summary>
    public static (ulong Free, ulong Total) MemoryInfo()
    {
        nuint free, total;
        Check(CuNative.cuMemGetInfo(&free, &total), "cuMemGetInfo_v2");
        return (free, total);
    }

    // ---- streams and events ---------------------------------------------------------------------------

    public static CuStream StreamCreate(CuStreamFlags flags = CuStreamFlags.NonBlocking)
    {
        CuStream stream;
        Check(CuNative.cuStreamCreate(&stream, flags), "cuStreamCreate");
        return stream;
    }

    public static void StreamDestroy(CuStream stream) => Check(CuNative.cuStreamDestroy(stream), "cuStreamDestroy_v2");

    public static void StreamSynchronize(CuStream stream, string? op = null) =>
        Check(CuNative.cuStreamSynchronize(stream), "cuStreamSynchronize", op);

    /// <summary>True when all work on the stream is done, false while it runs (CUDA_ERROR_NOT_READY).</summary>
    public static bool StreamQuery(CuStream stream)
    {
        var result = CuNative.cuStreamQuery(stream);
        if (result == CuResult.CUDA_ERROR_NOT_READY)
            return false;
        Check(result, "cuStreamQuery");
        return true;
    }

    public static CuEvent EventCreate(CuEventFlags flags = CuEventFlags.Default)
    {
        CuEvent evt;
        Check(CuNative.cuEventCreate(&evt, flags), "cuEventCreate");
        return evt;
    }

    public static void EventDestroy(CuEvent evt) => Check(CuNative.cuEventDestroy(evt), "cuEventDestroy_v2");

    public static void EventRecord(CuEvent evt, CuStream stream) => Check(CuNative.cuEventRecord(evt, stream), "cuEventRecord");

    public static void EventSynchronize(CuEvent evt) => Check(CuNative.cuEventSynchronize(evt), "cuEventSynchronize");

    /// <summary>
    /// cuStreamWaitEvent: work queued on <paramref name="stream"/> after this call waits until the work captured by the
    /// event's latest cuEventRecord has completed (the host does not wait). An event never recorded imposes no wait.
    /// </summary>
    public static void StreamWaitEvent(CuStream stream, CuEvent evt, string? op = null) =>
        Check(CuNative.cuStreamWaitEvent(stream, evt, 0), "cuStreamWaitEvent", op);

    /// <summary>Milliseconds between two recorded events (both must have completed).</summary>
    public static float EventElapsedMilliseconds(CuEvent start, CuEvent end)
    {
        float ms;
        Check(CuNative.cuEventElapsedTime(&ms, start, end), "cuEventElapsedTime");
        return ms;
    }

    // ---- memory ---------------------------------------------------------------------------------------

    /// <summary>cuMemAlloc_v2. On CUDA_ERROR_OUT_OF_MEMORY the message says how much was asked and how much is free.</summary>
    public static CuDevicePtr MemAlloc(ulong bytes, string? op = null)
    {
        CuDevicePtr pointer;
        var result = CuNative.cuMemAlloc(&pointer, (nuint)bytes);
        if (result == CuResult.CUDA_ERROR_OUT_OF_MEMORY)
        {
            nuint free = 0, total = 0;
            var info = CuNative.cuMemGetInfo(&free, &total) == CuResult.CUDA_SUCCESS
                ? $"asked {FormatBytes(bytes)}, {FormatBytes(free)} free of {FormatBytes(total)}"
                : $"asked {FormatBytes(bytes)}";
            Check(result, "cuMemAlloc_v2", op is null ? info : $"{op}; {info}");
        }
        Check(result, "cuMemAlloc_v2", op ?? $"{FormatBytes(bytes)}");
        return pointer;
    }

    public static void MemFree(CuDevicePtr pointer) => Check(CuNative.cuMemFree(pointer), "cuMemFree_v2");

    /// <summary>Page-locked host memory (fast, async-capable copies).</summary>
    public static nint MemAllocHost(ulong bytes, string? op = null)
    {
        void* pointer;
        Check(CuNative.cuMemAllocHost(&pointer, (nuint)bytes), "cuMemAllocHost_v2", op ?? FormatBytes(bytes));
        return (nint)pointer;
    }

    /// <summary>
    /// cuMemHostAlloc: page-locked host memory with <paramref name="flags"/> (freed with <see cref="MemFreeHost"/>). The
    /// DMA engines read it directly, so cuMemcpyHtoDAsync from it is truly asynchronous (and may be captured in a graph).
    /// </summary>
    public static nint MemHostAlloc(ulong bytes, CuMemHostAllocFlags flags, string? op = null)
    {
        void* pointer;
        Check(CuNative.cuMemHostAlloc(&pointer, (nuint)bytes, flags), "cuMemHostAlloc", op ?? FormatBytes(bytes));
        return (nint)pointer;
    }

    public static void MemFreeHost(nint pointer) => Check(CuNative.cuMemFreeHost((void*)pointer), "cuMemFreeHost");

    public static void MemcpyHtoDAsync(CuDevicePtr destination, void* source, ulong bytes, CuStream stream, string? op = null) =>
        Check(CuNative.cuMemcpyHtoDAsync(destination, source, (nuint)bytes, stream), "cuMemcpyHtoDAsync_v2", op);

    public static void MemcpyDtoHAsync(void* destination, CuDevicePtr source, ulong bytes, CuStream stream, string? op = null) =>
        Check(CuNative.cuMemcpyDtoHAsync(destination, source, (nuint)bytes, stream), "cuMemcpyDtoHAsync_v2", op);

    public static void MemcpyDtoDAsync(CuDevicePtr destination, CuDevicePtr source, ulong bytes, CuStream stream, string? op = null) =>
        Check(CuNative.cuMemcpyDtoDAsync(destination, source, (nuint)bytes, stream), "cuMemcpyDtoDAsync_v2", op);

    /// <summary>
    /// cuMemcpy2DAsync_v2, returning the status instead of throwing: the driver documents that intra-device copies "may
    /// fail for pitches not computed by cuMemAllocPitch", so a caller can fall back to a kernel on a refusal.
    /// </summary>
    public static CuResult TryMemcpy2DAsync(in CuMemcpy2D copy, CuStream stream)
    {
        CuMemcpy2D c = copy;
        return CuNative.cuMemcpy2DAsync(&c, stream);
    }

    /// <summary>Sets <paramref name="count"/> bytes.</summary>
    public static void MemsetD8Async(CuDevicePtr destination, byte value, ulong count, CuStream stream, string? op = null) =>
        Check(CuNative.cuMemsetD8Async(destination, value, (nuint)count, stream), "cuMemsetD8Async", op);

    /// <summary>Sets <paramref name="count"/> 16-bit words (a bf16 fill: pass BFloat16Bits.FromSingle(v)).</summary>
    public static void MemsetD16Async(CuDevicePtr destination, ushort value, ulong count, CuStream stream, string? op = null) =>
        Check(CuNative.cuMemsetD16Async(destination, value, (nuint)count, stream), "cuMemsetD16Async", op);

    /// <summary>Sets <paramref name="count"/> 32-bit words (an f32 fill: pass the float's bits).</summary>
    public static void MemsetD32Async(CuDevicePtr destination, uint value, ulong count, CuStream stream, string? op = null) =>
        Check(CuNative.cuMemsetD32Async(destination, value, (nuint)count, stream), "cuMemsetD32Async", op);

    // ---- modules and launches -------------------------------------------------------------------------

    /// <summary>
    /// Loads a PTX (NUL-terminated) or CUBIN image. Uses cuModuleLoadDataEx with an error log buffer, so a
    /// PTX the driver's JIT rejects (e.g. CUDA_ERROR_UNSUPPORTED_PTX_VERSION from a newer NVRTC than the driver)
    /// fails with the JIT's own explanation in the exception.
    /// </summary>
    public static CuModule ModuleLoadData(ReadOnlySpan<byte> image, string? op = null)
    {
        const int logSize = 8192;
        var errorLog = new byte[logSize];
        var options = stackalloc CuJitOption[2] { CuJitOption.ErrorLogBuffer, CuJitOption.ErrorLogBufferSizeBytes };
        CuModule module;
        CuResult result;
        fixed (byte* imagePtr = image)
        fixed (byte* logPtr = errorLog)
        {
            var values = stackalloc void*[2] { logPtr, (void*)(nuint)logSize };
            result = CuNative.cuModuleLoadDataEx(&module, imagePtr, 2, options, values);
        }
        if (result != CuResult.CUDA_SUCCESS)
        {
            var log = Encoding.UTF8.GetString(errorLog, 0, Math.Max(0, Array.IndexOf(errorLog, (byte)0))).Trim();
            Check(result, "cuModuleLoadDataEx", log.Length == 0 ? op : $"{op}; JIT log: {log}");
        }
        return module;
    }

    public static void ModuleUnload(CuModule module) => Check(CuNative.cuModuleUnload(module), "cuModuleUnload");

    public static CuFunction ModuleGetFunction(CuModule module, string name)
    {
        var utf8 = Encoding.UTF8.GetBytes(name + "\0");
        CuFunction function;
        fixed (byte* namePtr = utf8)
            Check(CuNative.cuModuleGetFunction(&function, module, namePtr), "cuModuleGetFunction", name);
        return function;
    }

    public static int FunctionAttribute(CuFunction function, CuFunctionAttribute attribute, string? op = null)
    {
        int value;
        Check(CuNative.cuFuncGetAttribute(&value, attribute, function), "cuFuncGetAttribute", op ?? attribute.ToString());
        return value;
    }

    public static void FunctionSetAttribute(CuFunction function, CuFunctionAttribute attribute, int value, string? op = null) =>
        Check(CuNative.cuFuncSetAttribute(function, attribute, value), "cuFuncSetAttribute", op ?? $"{attribute}={value}");

    /// <summary>
    /// cuLaunchKernel. <paramref name="args"/> points to an array with one pointer per kernel parameter, each
    /// pointing at that parameter's value (the driver copies the values during the call).
    /// </summary>
    public static void LaunchKernel(CuFunction function, Dim3 grid, Dim3 block, uint sharedMemBytes, CuStream stream, void** args, string? op = null) =>
        Check(CuNative.cuLaunchKernel(function, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, sharedMemBytes, stream, args, null),
            "cuLaunchKernel", op ?? $"grid {grid} block {block} smem {sharedMemBytes}");

    // ---- graphs ---------------------------------------------------------------------------------------

    public static void StreamBeginCapture(CuStream stream, CuStreamCaptureMode mode = CuStreamCaptureMode.ThreadLocal, string? op = null) =>
        Check(CuNative.cuStreamBeginCapture(stream, mode), "cuStreamBeginCapture_v2", op);

    public static CuGraph StreamEndCapture(CuStream stream, string? op = null)
    {
        CuGraph graph;
        Check(CuNative.cuStreamEndCapture(stream, &graph), "cuStreamEndCapture", op);
        return graph;
    }

    public static CuGraphExec GraphInstantiate(CuGraph graph, string? op = null)
    {
        CuGraphExec exec;
        Check(CuNative.cuGraphInstantiateWithFlags(&exec, graph, 0), "cuGraphInstantiateWithFlags", op);
        return exec;
    }

    public static void GraphLaunch(CuGraphExec exec, CuStream stream, string? op = null) =>
        Check(CuNative.cuGraphLaunch(exec, stream), "cuGraphLaunch", op);

    public static void GraphExecDestroy(CuGraphExec exec) => Check(CuNative.cuGraphExecDestroy(exec), "cuGraphExecDestroy");

    public static void GraphDestroy(CuGraph graph) => Check(CuNative.cuGraphDestroy(graph), "cuGraphDestroy");

    /// <summary>
    /// Updates an instantiated graph in place from a newly captured graph of the same topology (only kernel
    /// parameters changed). Returns false, with the reason, when the driver refuses (then re-instantiate);
    /// throws for any other failure. Needs a CUDA 12.0+ driver (cuGraphExecUpdate_v2).
    /// </summary>
    public static bool GraphExecUpdate(CuGraphExec exec, CuGraph graph, out CuGraphExecUpdateResult reason)
    {
        CuGraphExecUpdateResultInfo info = default;
        var result = CuNative.cuGraphExecUpdate(exec, graph, &info);
        reason = info.Result;
        if (result == CuResult.CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE)
            return false;
        Check(result, "cuGraphExecUpdate_v2");
        return true;
    }

    /// <summary>"12.8" from cuDriverGetVersion's 12080 (1000·major + 10·minor).</summary>
    public static string FormatVersion(int version) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{version / 1000}.{version % 1000 / 10}");

    internal static string FormatBytes(ulong bytes) => bytes switch
    {
        >= 1UL << 30 => $"{bytes / (double)(1UL << 30):0.##} GiB",
        >= 1UL << 20 => $"{bytes / (double)(1UL << 20):0.##} MiB",
        >= 1UL << 10 => $"{bytes / 1024.0:0.##} KiB",
        _ => $"{bytes} B",
    };
}
