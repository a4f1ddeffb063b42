using AccelAes.Kernels.Interop;

namespace AccelAes.Kernels;

/// <summary>A compute capability, e.g. 8.9; <see cref="Architecture"/> is NVRTC's number for it (89).</summary>
public readonly record struct ComputeCapability(int Major, int Minor)
{
    public int Architecture => Major * 10 + Minor;

    public override string ToString() => $"{Major}.{Minor}";
}

/// <summary>Static facts about one device, read without creating a context.</summary>
public sealed record CudaDeviceInfo(
    int Ordinal,
    string Name,
    ComputeCapability ComputeCapability,
    int MultiprocessorCount,
    ulong TotalMemoryBytes,
    int? ClockRateKHz,
    int? MemoryClockRateKHz,
    int? MemoryBusWidthBits,
    int? L2CacheBytes,
    int MaxThreadsPerBlock,
    int MaxSharedMemoryPerBlockOptin)
{
    /// <summary>Theoretical DRAM bandwidth (double data rate), when the driver reports the memory clock and bus.</summary>
    public double? PeakMemoryBandwidthBytesPerSecond =>
        MemoryClockRateKHz is { } clock && MemoryBusWidthBits is { } bus ? 2.0 * clock * 1000.0 * bus / 8.0 : null;

    public override string ToString() =>
        $"#{Ordinal} {Name} (sm_{ComputeCapability.Architecture}, {MultiprocessorCount} SMs, {CudaDriver.FormatBytes(TotalMemoryBytes)})";
}

/// <summary>
/// The per-SM and per-block limits that decide how many CTAs of a kernel are resident on one SM at a time, and the
/// SM count: the input of occupancy decisions such as the attention plan's. Shared memory in bytes; a CTA uses its
/// dynamic shared memory plus <see cref="ReservedSharedMemoryPerBlock"/> of the SM's <see cref="SharedMemoryPerMultiprocessor"/>.
/// </summary>
public sealed record DeviceLimits(
    int MultiprocessorCount,
    int SharedMemoryPerBlockOptin,
    int SharedMemoryPerMultiprocessor,
    int ReservedSharedMemoryPerBlock,
    int MaxThreadsPerMultiprocessor,
    int MaxBlocksPerMultiprocessor,
    int RegistersPerMultiprocessor)
{
    public override string ToString() =>
        $"{MultiprocessorCount} SMs, shared {SharedMemoryPerBlockOptin} B/block (opt-in), {SharedMemoryPerMultiprocessor} B/SM " +
        $"({ReservedSharedMemoryPerBlock} B reserved per CTA), {MaxThreadsPerMultiprocessor} threads/SM, " +
        $"{MaxBlocksPerMultiprocessor} CTAs/SM, {RegistersPerMultiprocessor} registers/SM";
}

/// <summary>Why there is or is not a usable GPU. The numbers are stable (the CLI maps them to exit codes).</summary>
public enum GpuStatus
{
    Available = 0,
    /// <summary>Check 1 failed: no libcuda could be loaded.</summary>
    DriverLibraryNotFound = 1,
    /// <summary>Check 2 failed with CUDA_ERROR_STUB_LIBRARY (34): the toolkit's link stub, not a driver, was found.</summary>
    StubLibrary = 2,
    /// <summary>Check 2 failed otherwise (driver/kernel-module mismatch, insufficient driver, ...).</summary>
    InitFailed = 3,
    /// <summary>Check 2 said CUDA_ERROR_NO_DEVICE, or check 3 counted zero devices.</summary>
    NoDevice = 4,
}

/// <summary>The three checks a GPU run depends on, in the order they are made.</summary>
public enum GpuCheck
{
    DriverLoads = 1,
    InitSucceeds = 2,
    DeviceExists = 3,
}

/// <summary>The result of <see cref="CudaDevice.Detect"/>: a GPU list, or which check failed and why.</summary>
public sealed record GpuDetection(
    GpuStatus Status,
    GpuCheck? FailedCheck,
    string Reason,
    LibraryLoadResult DriverLibrary,
    int? DriverVersion,
    CuResult? InitResult,
    IReadOnlyList<CudaDeviceInfo> Devices)
{
    public bool IsAvailable => Status == GpuStatus.Available;

    /// <summary>"12.4" from the driver's 12040.</summary>
    public string? DriverVersionText => DriverVersion is { } v ? CudaDriver.FormatVersion(v) : null;

    /// <summary>One line: the devices, or the failed check and its reason.</summary>
    public string Summary => IsAvailable
        ? $"CUDA driver {DriverVersionText} ({DriverLibrary.LoadedPath}); {Devices.Count} device(s): {string.Join("; ", Devices)}"
        : $"no usable GPU: check {(int?)FailedCheck} ({FailedCheck}) failed: {Reason}";
}

/// <summary>GPU presence and device facts.</summary>
public static class CudaDevice
{
    /// <summary>
    /// Runs the three checks in order — libcuda loads, cuInit succeeds, at least one device — and reports the
    /// first that fails. Never throws: any unexpected failure becomes <see cref="GpuStatus.InitFailed"/> with
    /// its message.
    /// </summary>
    public static GpuDetection Detect()
    {
        var library = NativeLibraries.Load(CudaLibrary.Driver);
        if (!library.IsLoaded)
            return Evaluate(library, null, null, null, null);
        try
        {
            int? version = null;
            try { version = CudaDriver.DriverVersion(); }
            catch (CudaException) { /* a stub may fail this too; cuInit says why */ }
            var init = CudaDriver.TryInit();
            if (init != CuResult.CUDA_SUCCESS)
                return Evaluate(library, version, init, null, null);
            var count = CudaDriver.DeviceCount();
            var devices = Enumerable.Range(0, count).Select(Describe).ToArray();
            return Evaluate(library, version, init, count, devices);
        }
        catch (Exception e) when (e is AccelAesException or EntryPointNotFoundException or DllNotFoundException)
        {
            return new GpuDetection(GpuStatus.InitFailed, GpuCheck.InitSucceeds,
                $"the CUDA driver at {library.LoadedPath} failed unexpectedly: {e.Message}", library, null, null, []);
        }
    }

    /// <summary>The decision of <see cref="Detect"/>, separated from the native calls so it can be tested.</summary>
    internal static GpuDetection Evaluate(LibraryLoadResult library, int? driverVersion, CuResult? init, int? deviceCount,
        IReadOnlyList<CudaDeviceInfo>? devices)
    {
        if (!library.IsLoaded)
        {
            var tried = string.Join(", ", library.Attempts.Select(a => a.Candidate));
            return new GpuDetection(GpuStatus.DriverLibraryNotFound, GpuCheck.DriverLoads,
                $"libcuda not found (tried {(tried.Length == 0 ? "nothing: no CUDA on this OS" : tried)}); " +
                "it ships with the NVIDIA driver", library, null, null, []);
        }
        if (init is { } result && result != CuResult.CUDA_SUCCESS)
        {
            var name = CudaDriver.ErrorName(result);
            return result switch
            {
                CuResult.CUDA_ERROR_STUB_LIBRARY => new GpuDetection(GpuStatus.StubLibrary, GpuCheck.InitSucceeds,
                    $"{library.LoadedPath} is the CUDA toolkit's stub library (cuInit returned {name}, 34), not a driver; " +
                    $"put the real driver's libcuda first or set {NativeLibraries.OverrideDirectoryVariable}",
                    library, driverVersion, result, []),
                CuResult.CUDA_ERROR_NO_DEVICE => new GpuDetection(GpuStatus.NoDevice, GpuCheck.InitSucceeds,
                    $"cuInit returned {name} (100): the driver sees no CUDA device", library, driverVersion, result, []),
                _ => new GpuDetection(GpuStatus.InitFailed, GpuCheck.InitSucceeds,
                    $"cuInit returned {name} ({(int)result}){Describe(result)}", library, driverVersion, result, []),
            };
        }
        if (deviceCount is null or <= 0)
            return new GpuDetection(GpuStatus.NoDevice, GpuCheck.DeviceExists,
                "cuInit succeeded but cuDeviceGetCount reports 0 devices (check CUDA_VISIBLE_DEVICES)", library, driverVersion, init, []);
        return new GpuDetection(GpuStatus.Available, null, "ok", library, driverVersion, init, devices ?? []);
    }

    private static string Describe(CuResult result) =>
        CudaDriver.ErrorDescription(result) is { Length: > 0 } text ? ": " + text : "";

    /// <summary>Reads the static facts of device <paramref name="ordinal"/> (needs cuInit, no context).</summary>
    public static CudaDeviceInfo Describe(int ordinal)
    {
        var device = CudaDriver.DeviceGet(ordinal);
        int Attr(CuDeviceAttribute a) => CudaDriver.DeviceAttribute(device, a);
        return new CudaDeviceInfo(
            ordinal,
            CudaDriver.DeviceName(device),
            new ComputeCapability(Attr(CuDeviceAttribute.ComputeCapabilityMajor), Attr(CuDeviceAttribute.ComputeCapabilityMinor)),
            Attr(CuDeviceAttribute.MultiprocessorCount),
            CudaDriver.DeviceTotalMemory(device),
            CudaDriver.TryDeviceAttribute(device, CuDeviceAttribute.ClockRate),
            CudaDriver.TryDeviceAttribute(device, CuDeviceAttribute.MemoryClockRate),
            CudaDriver.TryDeviceAttribute(device, CuDeviceAttribute.GlobalMemoryBusWidth),
            CudaDriver.TryDeviceAttribute(device, CuDeviceAttribute.L2CacheSize),
            Attr(CuDeviceAttribute.MaxThreadsPerBlock),
            Attr(CuDeviceAttribute.MaxSharedMemoryPerBlockOptin));
    }

    /// <summary>
    /// Reads the occupancy limits of device <paramref name="ordinal"/> (needs cuInit). An attribute the driver does not
    /// report (an error, or 0 where 0 is impossible) takes the most restrictive value of the sm_80+ parts the engine
    /// supports: 1,024 B reserved per CTA, 1,536 threads and 16 CTAs per SM, 64 Ki registers, shared memory per SM =
    /// the per-block opt-in + the reservation.
    /// </summary>
    public static DeviceLimits ReadLimits(int ordinal)
    {
        var device = CudaDriver.DeviceGet(ordinal);
        int? Try(CuDeviceAttribute a) => CudaDriver.TryDeviceAttribute(device, a);
        int Positive(CuDeviceAttribute a, int fallback) => Try(a) is int v && v > 0 ? v : fallback;
        int optin = CudaDriver.DeviceAttribute(device, CuDeviceAttribute.MaxSharedMemoryPerBlockOptin);
        int reserved = Try(CuDeviceAttribute.ReservedSharedMemoryPerBlock) ?? 1024;
        return new DeviceLimits(
            CudaDriver.DeviceAttribute(device, CuDeviceAttribute.MultiprocessorCount),
            optin,
            Positive(CuDeviceAttribute.MaxSharedMemoryPerMultiprocessor, optin + reserved),
            reserved,
            Positive(CuDeviceAttribute.MaxThreadsPerMultiprocessor, 1536),
            Positive(CuDeviceAttribute.MaxBlocksPerMultiprocessor, 16),
            Positive(CuDeviceAttribute.MaxRegistersPerMultiprocessor, 65536));
    }
}

/// <summary>
/// The primary context of one device, retained and made current on the calling thread. Disposing releases
/// it (the driver destroys it when the last retain is released).
/// </summary>
public sealed class CudaContext : IDisposable
{
    private bool _released;

    private CudaContext(int device, CuContext context)
    {
        Device = device;
        Handle = context;
    }

    public int Device { get; }

    public CuContext Handle { get; }

    /// <summary>cuInit, retain device <paramref name="ordinal"/>'s primary context, make it current.</summary>
    public static CudaContext RetainPrimary(int ordinal = 0)
    {
        CudaDriver.Init();
        var device = CudaDriver.DeviceGet(ordinal);
        var context = CudaDriver.PrimaryContextRetain(device);
        try
        {
            CudaDriver.ContextSetCurrent(context);
        }
        catch
        {
            CudaDriver.PrimaryContextRelease(device);
            throw;
        }
        return new CudaContext(device, context);
    }

    /// <summary>Makes this context current on the calling thread (each thread that calls CUDA needs it).</summary>
    public void MakeCurrent() => CudaDriver.ContextSetCurrent(Handle);

    /// <summary>Free and total device memory.</summary>
    public (ulong Free, ulong Total) MemoryInfo() => CudaDriver.MemoryInfo();

    public void Dispose()
    {
        if (_released)
            return;
        _released = true;
        CudaDriver.PrimaryContextRelease(Device);
    }
}
