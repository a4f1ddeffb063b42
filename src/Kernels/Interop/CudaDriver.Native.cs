using System.Runtime.InteropServices;

namespace AccelAes.Kernels.Interop;

/// <summary>
/// Raw CUDA driver API entry points (cuda.h). Where the driver exports a versioned symbol that the C header
/// maps the plain name to (<c>#define cuMemAlloc cuMemAlloc_v2</c>), the versioned symbol is bound, since the
/// unversioned export keeps the old 32-bit/legacy semantics. Call through <see cref="CudaDriver"/>, which
/// turns statuses into exceptions.
/// </summary>
internal static unsafe partial class CuNative
{
    private const string Lib = NativeLibraries.DriverImport;

    // Initialization, version, errors
    [LibraryImport(Lib)] internal static partial CuResult cuInit(uint flags);
    [LibraryImport(Lib)] internal static partial CuResult cuDriverGetVersion(int* version);
    [LibraryImport(Lib)] internal static partial CuResult cuGetErrorName(CuResult error, byte** name);
    [LibraryImport(Lib)] internal static partial CuResult cuGetErrorString(CuResult error, byte** text);

    // Devices
    [LibraryImport(Lib)] internal static partial CuResult cuDeviceGetCount(int* count);
    [LibraryImport(Lib)] internal static partial CuResult cuDeviceGet(int* device, int ordinal);
    [LibraryImport(Lib)] internal static partial CuResult cuDeviceGetName(byte* name, int length, int device);
    [LibraryImport(Lib)] internal static partial CuResult cuDeviceGetAttribute(int* value, CuDeviceAttribute attribute, int device);
    [LibraryImport(Lib, EntryPoint = "cuDeviceTotalMem_v2")] internal static partial CuResult cuDeviceTotalMem(nuint* bytes, int device);

    // Contexts (primary context only: one per device, shared with any other CUDA user in the process)
    [LibraryImport(Lib)] internal static partial CuResult cuDevicePrimaryCtxRetain(CuContext* context, int device);
    [LibraryImport(Lib, EntryPoint = "cuDevicePrimaryCtxRelease_v2")] internal static partial CuResult cuDevicePrimaryCtxRelease(int device);
    [LibraryImport(Lib)] internal static partial CuResult cuCtxSetCurrent(CuContext context);
    [LibraryImport(Lib)] internal static partial CuResult cuCtxGetCurrent(CuContext* context);
    [LibraryImport(Lib)] internal static partial CuResult cuCtxSynchronize();
    [LibraryImport(Lib, EntryPoint = "cuMemGetInfo_v2")] internal static partial CuResult cuMemGetInfo(nuint* free, nuint* total);

    // Streams and events
    [LibraryImport(Lib)] internal static partial CuResult cuStreamCreate(CuStream* stream, CuStreamFlags flags);
    [LibraryImport(Lib, EntryPoint = "cuStreamDestroy_v2")] internal static partial CuResult cuStreamDestroy(CuStream stream);
    [LibraryImport(Lib)] internal static partial CuResult cuStreamSynchronize(CuStream stream);
    [LibraryImport(Lib)] internal static partial CuResult cuStreamQuery(CuStream stream);
    [LibraryImport(Lib)] internal static partial CuResult cuEventCreate(CuEvent* evt, CuEventFlags flags);
    [LibraryImport(Lib, EntryPoint = "cuEventDestroy_v2")] internal static partial CuResult cuEventDestroy(CuEvent evt);
    [LibraryImport(Lib)] internal static partial CuResult cuEventRecord(CuEvent evt, CuStream stream);
    [LibraryImport(Lib)] internal static partial CuResult cuStreamWaitEvent(CuStream stream, CuEvent evt, uint flags);
    [LibraryImport(Lib)] internal static partial CuResult cuEventSynchronize(CuEvent evt);
    [LibraryImport(Lib)] internal static partial CuResult cuEventQuery(CuEvent evt);
    [LibraryImport(Lib)] internal static partial CuResult cuEventElapsedTime(float* milliseconds, CuEvent start, CuEvent end);

    // Memory
    [LibraryImport(Lib, EntryPoint = "cuMemAlloc_v2")] internal static partial CuResult cuMemAlloc(CuDevicePtr* pointer, nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cuMemFree_v2")] internal static partial CuResult cuMemFree(CuDevicePtr pointer);
    [LibraryImport(Lib, EntryPoint = "cuMemAllocHost_v2")] internal static partial CuResult cuMemAllocHost(void** pointer, nuint bytes);
    [LibraryImport(Lib)] internal static partial CuResult cuMemFreeHost(void* pointer);
    [LibraryImport(Lib)] internal static partial CuResult cuMemHostAlloc(void** pointer, nuint bytes, CuMemHostAllocFlags flags);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyHtoDAsync_v2")] internal static partial CuResult cuMemcpyHtoDAsync(CuDevicePtr destination, void* source, nuint bytes, CuStream stream);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoHAsync_v2")] internal static partial CuResult cuMemcpyDtoHAsync(void* destination, CuDevicePtr source, nuint bytes, CuStream stream);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoDAsync_v2")] internal static partial CuResult cuMemcpyDtoDAsync(CuDevicePtr destination, CuDevicePtr source, nuint bytes, CuStream stream);
    [LibraryImport(Lib, EntryPoint = "cuMemcpy2DAsync_v2")] internal static partial CuResult cuMemcpy2DAsync(CuMemcpy2D* copy, CuStream stream);
    [LibraryImport(Lib)] internal static partial CuResult cuMemsetD8Async(CuDevicePtr destination, byte value, nuint count, CuStream stream);
    [LibraryImport(Lib)] internal static partial CuResult cuMemsetD16Async(CuDevicePtr destination, ushort value, nuint count, CuStream stream);
    [LibraryImport(Lib)] internal static partial CuResult cuMemsetD32Async(CuDevicePtr destination, uint value, nuint count, CuStream stream);

    // Modules and launches
    [LibraryImport(Lib)] internal static partial CuResult cuModuleLoadData(CuModule* module, void* image);
    [LibraryImport(Lib)] internal static partial CuResult cuModuleLoadDataEx(CuModule* module, void* image, uint optionCount, CuJitOption* options, void** optionValues);
    [LibraryImport(Lib)] internal static partial CuResult cuModuleUnload(CuModule module);
    [LibraryImport(Lib)] internal static partial CuResult cuModuleGetFunction(CuFunction* function, CuModule module, byte* name);
    [LibraryImport(Lib)] internal static partial CuResult cuFuncGetAttribute(int* value, CuFunctionAttribute attribute, CuFunction function);
    [LibraryImport(Lib)] internal static partial CuResult cuFuncSetAttribute(CuFunction function, CuFunctionAttribute attribute, int value);
    [LibraryImport(Lib)]
    internal static partial CuResult cuLaunchKernel(CuFunction function,
        uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedMemBytes, CuStream stream, void** kernelParams, void** extra);

    // Stream capture and graphs
    [LibraryImport(Lib, EntryPoint = "cuStreamBeginCapture_v2")] internal static partial CuResult cuStreamBeginCapture(CuStream stream, CuStreamCaptureMode mode);
    [LibraryImport(Lib)] internal static partial CuResult cuStreamEndCapture(CuStream stream, CuGraph* graph);
    [LibraryImport(Lib)] internal static partial CuResult cuGraphInstantiateWithFlags(CuGraphExec* exec, CuGraph graph, ulong flags);
    [LibraryImport(Lib)] internal static partial CuResult cuGraphLaunch(CuGraphExec exec, CuStream stream);
    [LibraryImport(Lib)] internal static partial CuResult cuGraphExecDestroy(CuGraphExec exec);
    [LibraryImport(Lib)] internal static partial CuResult cuGraphDestroy(CuGraph graph);
    [LibraryImport(Lib, EntryPoint = "cuGraphExecUpdate_v2")] internal static partial CuResult cuGraphExecUpdate(CuGraphExec exec, CuGraph graph, CuGraphExecUpdateResultInfo* resultInfo);
}
