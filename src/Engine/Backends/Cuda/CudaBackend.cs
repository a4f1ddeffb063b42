using System.Runtime.InteropServices;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels;
using AccelAes.Kernels.Compilation;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>
/// The product backend (DESIGN.md §2): bf16 storage, fp32 arithmetic, kernels compiled by NVRTC at first use
/// (cached on disk), GEMMs by cuBLASLt, one stream, a caching device-memory pool.
/// </summary>
/// <remarks>
/// <para><b>Storage types.</b> Op outputs are BF16 (the <see cref="ActivationType"/>), except that layout ops
/// (Slice, Concat of same-typed parts, TransposeLast2, GatherRows, Patchify, Unpatchify, UpsampleNearest2x)
/// move values without converting them, and the single-input pointwise ops (Scale, Activate) and the
/// sampler ops (Add, Multiply, GuidanceCombine) keep F32 when all their inputs are F32. Host data enters as:
/// <see cref="Upload"/> → <b>F32</b> (exact: timesteps must not round — bf16 turns 999 into 1000, and the
/// embedding's sin(1000·f) is then a different number; latents stay fp32 so the Euler steps accumulate in
/// fp32; RoPE tables keep full precision); <see cref="UploadWeight"/> → BF16 (from F32, F16 or BF16 bytes,
/// converted on the device); <see cref="UploadBf16"/> → BF16 explicitly; <see cref="UploadIndices"/> → I32.
/// An op that computes in bf16 converts an F32 operand on entry (a temporary, freed when the op returns).
/// Ops that need fp32 read it as such: TimestepEmbedding's t, EulerStepInPlace's latents (F32 or BF16, in
/// place), Rotary's tables (F32 or BF16), Attention's key mask (compared with 0 exactly).</para>
/// <para><b>Memory.</b> Tensors own a reference to a pool block (<see cref="DeviceMemoryPool"/>); Dispose
/// returns it at once, <see cref="BeginScope"/> disposes a whole step's intermediates, and tensors nobody
/// disposed are returned by the GC (the pool triggers a collection every
/// <see cref="CudaBackendOptions.ReclaimThresholdBytes"/> of fresh allocations).</para>
/// <para><b>Threads.</b> One thread at a time (like the stream it owns); the primary context is made current
/// on whichever thread calls. Errors from asynchronous kernels surface at the next synchronising call
/// (Download, CountNonFinite) unless <see cref="SynchronizeEachOp"/> is set.</para>
/// </remarks>
public sealed partial class CudaBackend : IBackend
{
    private const int ScratchCount = 0;       // u32 slot: CountNonFinite's counter
    private const int ScratchGatherError = 1; // u32 slot: GatherRows' out-of-range flag

    [ThreadStatic] private static nint t_currentContext;

    private readonly CudaContext _context;
    private readonly CuStream _stream;
    private readonly DeviceMemoryPool _pool;
    private readonly KernelLauncher _kernels;
    private readonly CublasLtGemm? _gemm;
    private readonly PinnedStaging _staging;
    private readonly PoolBlock _scratch;
    private readonly List<CudaTensor> _opTemporaries = [];
    private readonly List<string> _warnings = [];
    private TensorScope? _scope;
    private int _opDepth;
    private string _opName = "";
    private Tensor? _opA, _opB, _opC;
    private bool _gatherChecksPending;
    private bool _disposed;

    /// <summary>A backend on device <paramref name="device"/> with the default options.</summary>
    public CudaBackend(int device = 0) : this(new CudaBackendOptions { Device = device }) { }

    public CudaBackend(CudaBackendOptions options)
    {
        Options = options;
        _context = CudaContext.RetainPrimary(options.Device);
        t_currentContext = _context.Handle.Handle;
        try
        {
            Device = CudaDevice.Describe(options.Device);
            Limits = CudaDevice.ReadLimits(options.Device);
            _stream = CudaDriver.StreamCreate();
            var (_, total) = CudaDriver.MemoryInfo();
            _pool = new DeviceMemoryPool(new CudaDeviceMemory(this), Reclaim, options.ReclaimThresholdBytes ?? Math.Max(256UL << 20, total / 8));
            DriverVersion = CudaDriver.DriverVersion();
            _kernels = new KernelLauncher(options.Compiler ?? new KernelCompiler(), Device.ComputeCapability, DriverVersion, _stream, Warn)
            {
                Context = DescribeCurrentOp,
            };
            _staging = new PinnedStaging(_stream, _pool, options.StagingChunkBytes);
            _scratch = _pool.Rent(256, "scratch counters");
            if (options.UseCublasLt && CublasLt.IsAvailable)
            {
                _gemm = OpenCublasLt(options.CublasWorkspaceBytes, out var engine);
                GemmEngine = engine;
            }
            else if (options.UseCublasLt)
            {
                // Asked for but not installed: as slow as a bypassed one, so it is reported the same way.
                var probe = NativeLibraries.Load(CudaLibrary.CublasLt).Describe();
                GemmEngine = "gemm.cu (cuBLASLt not found: " + probe.Split('\n')[0] + ")";
                Warn(GemmDispatch.MissingLibraryWarning(string.Join("; ", probe.Split('\n').Select(l => l.Trim()))));
            }
            else
            {
                GemmEngine = "gemm.cu (cuBLASLt disabled)";
            }
            PoisonNewTensors = options.PoisonNewTensors;
            SynchronizeEachOp = options.SynchronizeEachOp;
            ForceReferenceAttention = options.ForceReferenceAttention;
            FlashAttentionVariant = options.FlashAttentionVariant;
            AttentionKvSplits = options.AttentionKvSplits;
            UseGraphs = options.UseGraphs;
            CudaDriver.MemsetD8Async(new CuDevicePtr(_scratch.Address), 0, 256, _stream, "scratch counters");
        }
        catch
        {
            _context.Dispose();
            throw;
        }
    }

    public string Name => $"cuda:{Options.Device}";

    public DType ActivationType => DType.BF16;

    public CudaBackendOptions Options { get; }

    /// <summary>The device (name, compute capability, SMs, memory).</summary>
    public CudaDeviceInfo Device { get; }

    /// <summary>The device's occupancy limits (shared memory per block and SM, threads, CTAs and registers per SM, SMs).</summary>
    public DeviceLimits Limits { get; }

    /// <summary>The NVRTC target the kernels are compiled for, and why.</summary>
    public ArchitectureChoice Architecture => _kernels.Architecture;

    /// <summary>cuDriverGetVersion (12080 for CUDA 12.8): what the driver can load.</summary>
    public int DriverVersion { get; }

    /// <summary>Targets ruled out for this driver and NVRTC, and every switch to another target after a refused module, with reasons.</summary>
    public IReadOnlyList<string> KernelTargetNotes => _kernels.TargetNotes;

    /// <summary>What runs Linear and Conv2d GEMMs ("cuBLASLt 12.4.3 (path)" or "gemm.cu (why)").</summary>
    public string GemmEngine { get; }

    /// <summary>GEMM shapes planned by cuBLASLt, and how many of them fell back to gemm.cu (no algorithm or all refused).</summary>
    public (int Planned, int WithoutAlgorithm) GemmPlans => _gemm is null ? (0, 0) : (_gemm.PlannedShapes, _gemm.ShapesWithoutAlgorithm);

    /// <summary>Every GEMM shape cuBLASLt planned: the algorithm in use, or why gemm.cu runs it. Empty without cuBLASLt.</summary>
    public IReadOnlyList<GemmShapeReport> GemmShapes => _gemm?.Shapes ?? [];

    /// <summary>
    /// What this backend had to do differently from the fast path, for people (the CLI prints them; the engine never
    /// prints): a cuBLASLt that was bypassed, a GEMM shape that fell back to gemm.cu (once per shape), a kernel target
    /// ruled out for this driver or abandoned after the driver refused a module (<see cref="KernelTargetNotes"/>). Those found while
    /// the constructor ran are here before anyone could subscribe to <see cref="Warned"/>.
    /// </summary>
    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>Raised for each new entry of <see cref="Warnings"/>, on the thread using the backend.</summary>
    public event Action<string>? Warned;

    internal void Warn(string message)
    {
        _warnings.Add(message);
        Warned?.Invoke(message);
    }

    /// <summary>
    /// cuBLASLt when it can serve this device and driver (<see cref="GemmDispatch.LibraryProblem"/>) and initialises;
    /// otherwise null and one warning naming the file, its version and why — the backend then runs gemm.cu (DESIGN.md §3:
    /// a library that cannot serve is reported and bypassed, never fatal).
    /// </summary>
    private CublasLtGemm? OpenCublasLt(ulong workspaceBytes, out string engine)
    {
        var library = NativeLibraries.Load(CudaLibrary.CublasLt);
        string path = library.LoadedPath ?? library.LoadedName ?? "cuBLASLt";
        ulong? version = null;
        string? problem;
        var handle = default(CublasLtHandle);
        try
        {
            version = CublasLt.Version();
            problem = GemmDispatch.LibraryProblem(version.Value, DriverVersion, Device.ComputeCapability);
            if (problem is null && CublasLt.TryCreate(out handle) is var status and not CublasStatus.CUBLAS_STATUS_SUCCESS)
                problem = $"cublasLtCreate returned {CublasLt.StatusName(status)}";
        }
        catch (EntryPointNotFoundException e)
        {
            problem = $"it lacks an entry point the engine binds ({e.Message})";
        }
        if (problem is not null)
        {
            Warn(GemmDispatch.LibraryWarning(path, version, problem));
            engine = $"gemm.cu (cuBLASLt bypassed: {problem})";
            return null;
        }
        try
        {
            var gemm = new CublasLtGemm(handle, _stream, _pool, workspaceBytes, Warn);
            engine = $"cuBLASLt {GemmDispatch.VersionText(version!.Value)} ({path})";
            return gemm;
        }
        catch
        {
            CublasLt.Destroy(handle); // the workspace did not fit: that is an out-of-memory error, not the library's
            throw;
        }
    }

    /// <summary>See <see cref="CudaBackendOptions.PoisonNewTensors"/>.</summary>
    public bool PoisonNewTensors { get; set; }

    /// <summary>See <see cref="CudaBackendOptions.SynchronizeEachOp"/>.</summary>
    public bool SynchronizeEachOp { get; set; }

    /// <summary>See <see cref="CudaBackendOptions.ForceReferenceAttention"/>.</summary>
    public bool ForceReferenceAttention { get; set; }

    /// <summary>See <see cref="CudaBackendOptions.FlashAttentionVariant"/>.</summary>
    public FlashVariant? FlashAttentionVariant { get; set; }

    /// <summary>Weights streamed through the pinned double buffers so far, and the rate (for `generate` and `bench`).</summary>
    public WeightUploadStatistics WeightUploads { get; private set; } = new(0, 0, 0, TimeSpan.Zero);

    /// <summary>Device memory pool counters.</summary>
    public PoolStatistics Memory => _pool.Statistics;

    /// <summary>Kernel modules compiled or read from the cache so far.</summary>
    public IReadOnlyList<CompiledModule> LoadedModules => _kernels.LoadedModules;

    /// <summary>Registers, local memory and shared memory of every kernel loaded so far, as the driver reports them.</summary>
    public IReadOnlyList<KernelFunctionInfo> DescribeKernels()
    {
        EnsureCurrent();
        return _kernels.Describe();
    }

    /// <summary>Opens a tensor scope (see <see cref="TensorScope"/>); it becomes the innermost scope.</summary>
    public TensorScope BeginScope()
    {
        _scope = new TensorScope(this, _scope);
        return _scope;
    }

    internal void CloseScope(TensorScope scope)
    {
        if (!ReferenceEquals(scope, _scope))
            throw new InvalidOperationException("Tensor scopes must be closed innermost first.");
        _scope = scope.Parent;
    }

    internal void Track(CudaTensor tensor) => _scope?.Add(tensor);

    /// <summary>Waits for all queued work; reports a device-side GatherRows index error, if one happened.</summary>
    public void Synchronize()
    {
        EnsureCurrent();
        ThrowIfCapturing("Synchronize", "waits for the device");
        CudaDriver.StreamSynchronize(_stream, "synchronize");
        CheckDeviceErrors();
    }

    /// <summary>
    /// Median device time, in milliseconds, of the work <paramref name="work"/> queues on this backend (CUDA events
    /// around it on the stream), over <paramref name="repeats"/> runs after <paramref name="warmup"/> unmeasured ones.
    /// Host-side overhead between launches counts only where it leaves the GPU idle. For `accelaes bench`.
    /// </summary>
    public double MeasureMilliseconds(Action work, int warmup = 2, int repeats = 10)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        EnsureCurrent();
        ThrowIfCapturing("MeasureMilliseconds", "waits for the device");
        for (int i = 0; i < warmup; i++) work();
        var start = CudaDriver.EventCreate();
        var end = CudaDriver.EventCreate();
        try
        {
            var times = new double[repeats];
            for (int i = 0; i < repeats; i++)
            {
                CudaDriver.EventRecord(start, _stream);
                work();
                CudaDriver.EventRecord(end, _stream);
                CudaDriver.EventSynchronize(end);
                times[i] = CudaDriver.EventElapsedMilliseconds(start, end);
            }
            Array.Sort(times);
            return times[repeats / 2];
        }
        finally
        {
            CudaDriver.EventDestroy(start);
            CudaDriver.EventDestroy(end);
        }
    }

    /// <summary>
    /// Device memory this backend could still get, and the device's total (cuMemGetInfo), both within
    /// <see cref="CudaBackendOptions.MemoryLimitBytes"/> when set; the pool's cached blocks count as free (trimmed on demand).
    /// </summary>
    public (ulong Free, ulong Total) MemoryInfo()
    {
        EnsureCurrent();
        var (free, total) = CudaDriver.MemoryInfo();
        var stats = _pool.Statistics;
        free += stats.BytesCached;
        if (Options.MemoryLimitBytes is { } limit)
            (free, total) = (Math.Min(free, limit - Math.Min(limit, stats.BytesReserved) + stats.BytesCached), Math.Min(total, limit));
        return (free, total);
    }

    /// <summary>Frees the pool's cached blocks (not the ones tensors hold).</summary>
    public void TrimMemory()
    {
        EnsureCurrent();
        ThrowIfCapturing("TrimMemory", "frees device memory (cuMemFree synchronises)");
        _pool.Trim();
    }

    // ---- Memory -------------------------------------------------------------------------------

    /// <summary>A new <b>F32</b> tensor holding <paramref name="values"/> exactly (see the remarks on storage types).</summary>
    public Tensor Upload(ReadOnlySpan<float> values, Shape shape)
    {
        if (values.Length != shape.ElementCount)
            throw new ArgumentException($"{values.Length} values do not fill shape {shape}.");
        using var op = Enter("Upload");
        ThrowIfCapturing($"Upload({shape})", "copies host memory (a replay would read the staging buffer's later contents)");
        var t = New(shape, DType.F32);
        _staging.Upload(MemoryMarshal.AsBytes(values), 4, t.Pointer, 4, null);
        return t;
    }

    /// <summary>A new BF16 tensor: the values go through pinned staging as fp32 and are rounded on the device.</summary>
    public Tensor UploadBf16(ReadOnlySpan<float> values, Shape shape)
    {
        if (values.Length != shape.ElementCount)
            throw new ArgumentException($"{values.Length} values do not fill shape {shape}.");
        using var op = Enter("UploadBf16");
        ThrowIfCapturing($"UploadBf16({shape})", "copies host memory");
        var t = New(shape, DType.BF16);
        _staging.Upload(MemoryMarshal.AsBytes(values), 4, t.Pointer, 2, ConvertF32ToBf16);
        return t;
    }

    /// <summary>A new BF16 weight from F32, F16 or BF16 bytes (F32/F16 streamed in chunks and converted on the device).</summary>
    public Tensor UploadWeight(ReadOnlySpan<byte> bytes, DType source, Shape shape)
    {
        int size = source switch
        {
            DType.F32 => 4,
            DType.F16 or DType.BF16 => 2,
            _ => throw new ArgumentOutOfRangeException(nameof(source), source, "Weights are F32, F16 or BF16."),
        };
        if (bytes.Length != (long)shape.ElementCount * size)
            throw new ArgumentException($"{bytes.Length} bytes do not hold {shape} of {source}.");
        using var op = Enter("UploadWeight");
        ThrowIfCapturing($"UploadWeight({shape})", "copies host memory");
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        var t = New(shape, DType.BF16);
        PinnedStaging.Convert? convert = source switch
        {
            DType.F32 => ConvertF32ToBf16,
            DType.F16 => ConvertF16ToBf16,
            _ => null,
        };
        _staging.Upload(bytes, size, t.Pointer, 2, convert);
        var u = WeightUploads;
        WeightUploads = new WeightUploadStatistics(u.Tensors + 1, u.SourceBytes + (ulong)bytes.Length, u.DeviceBytes + t.ByteCount,
            u.Elapsed + System.Diagnostics.Stopwatch.GetElapsedTime(started));
        return t;
    }

    /// <summary>A new BF16 tensor of zeros.</summary>
    public Tensor Zeros(Shape shape)
    {
        using var op = Enter("Zeros");
        var t = New(shape, DType.BF16);
        CudaDriver.MemsetD8Async(t.Pointer, 0, t.ByteCount, _stream, "Zeros");
        return t;
    }

    /// <summary>A bf16 tensor left as the pool hands it over (NaN when poisoning): LinearInto and AttentionInto fill it.</summary>
    public Tensor Allocate(Shape shape)
    {
        using var op = Enter("Allocate");
        return New(shape, DType.BF16);
    }

    /// <summary>A new F32 tensor of zeros (accumulators, fp32 state).</summary>
    public Tensor ZerosF32(Shape shape)
    {
        using var op = Enter("ZerosF32");
        var t = New(shape, DType.F32);
        CudaDriver.MemsetD8Async(t.Pointer, 0, t.ByteCount, _stream, "ZerosF32");
        return t;
    }

    public Tensor UploadIndices(ReadOnlySpan<int> values, Shape shape)
    {
        if (values.Length != shape.ElementCount)
            throw new ArgumentException($"{values.Length} indices do not fill shape {shape}.");
        using var op = Enter("UploadIndices");
        ThrowIfCapturing($"UploadIndices({shape})", "copies host memory");
        var host = values.ToArray();
        var t = New(shape, DType.I32, host);
        _staging.Upload(MemoryMarshal.AsBytes(values), 4, t.Pointer, 4, null);
        return t;
    }

    /// <summary>Copies a tensor to the host as fp32 (waits for the queued work).</summary>
    public float[] Download(Tensor tensor)
    {
        var t = Own(tensor);
        using var op = Enter("Download", tensor);
        ThrowIfCapturing($"Download({tensor})", "waits for the device and copies to the host");
        var result = new float[t.ElementCount];
        if (t.DType == DType.F8E4M3)
            return DownloadFp8(t);
        if (t.Streamed is { } streamed)
        {
            // A streamed weight's bytes are on the host already: no upload of its block (none may be possible yet, while loading).
            ReadOnlySpan<byte> host = streamed.HostBytes;
            if (t.DType == DType.F32) host.CopyTo(MemoryMarshal.AsBytes(result.AsSpan()));
            else
            {
                var bits = MemoryMarshal.Cast<byte, ushort>(host);
                for (int i = 0; i < result.Length; i++) result[i] = BFloat16Bits.ToSingle(bits[i]);
            }
            return result;
        }
        switch (t.DType)
        {
            case DType.F32:
                _staging.Download(t.Pointer, MemoryMarshal.AsBytes(result.AsSpan()));
                break;
            case DType.I32:
                _staging.Download(t.Pointer, MemoryMarshal.AsBytes(result.AsSpan()));
                var ints = MemoryMarshal.Cast<float, int>(result.AsSpan());
                for (int i = 0; i < ints.Length; i++) result[i] = ints[i];
                break;
            default:
                var bits = new ushort[t.ElementCount];
                _staging.Download(t.Pointer, MemoryMarshal.AsBytes(bits.AsSpan()));
                for (int i = 0; i < bits.Length; i++) result[i] = BFloat16Bits.ToSingle(bits[i]);
                break;
        }
        CheckDeviceErrors();
        return result;
    }

    /// <summary>This tensor in BF16 (itself, or a new converted copy the caller owns).</summary>
    public Tensor ToBf16(Tensor tensor)
    {
        var t = Float(tensor, "ToBf16");
        using var op = Enter("ToBf16", tensor);
        if (t.DType == DType.BF16) return CopyOf(t);
        var y = New(t.Shape, DType.BF16);
        ConvertF32ToBf16(t.Pointer, y.Pointer, (ulong)t.ElementCount);
        return y;
    }

    /// <summary>This tensor in F32 (a new tensor the caller owns).</summary>
    public Tensor ToF32(Tensor tensor)
    {
        var t = Float(tensor, "ToF32");
        using var op = Enter("ToF32", tensor);
        if (t.DType == DType.F32) return CopyOf(t);
        var y = New(t.Shape, DType.F32);
        Elementwise("convert_bf16_to_f32", (ulong)t.ElementCount, t.Pointer, y.Pointer, (ulong)t.ElementCount);
        return y;
    }

    /// <summary>Fills a tensor with one value (tests: poisoning an in-place target).</summary>
    public void Fill(Tensor tensor, float value)
    {
        var t = Float(tensor, "Fill");
        using var op = Enter("Fill", tensor);
        ulong n = (ulong)t.ElementCount;
        Elementwise(t.DType == DType.F32 ? "fill_f32" : "fill_bf16", n, t.Pointer, value, n);
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        try
        {
            EnsureCurrent();
            CudaDriver.StreamSynchronize(_stream, "dispose");
            // Block streams a host never disposed (a pipeline dropped under --offload sequential): their pinned host
            // copies, slots, events and copy streams go before the pool and the context.
            foreach (var blockStream in _blockStreams) blockStream.FreeWithBackend();
            _blockStreams.Clear();
            _staging.Dispose();
            _gemm?.Dispose();
            _kernels.Dispose();
            _pool.Dispose();
            CudaDriver.StreamDestroy(_stream);
        }
        finally
        {
            _context.Dispose();
            if (t_currentContext == _context.Handle.Handle)
                t_currentContext = 0;
        }
    }

    // ---- helpers shared by the op files --------------------------------------------------------

    /// <summary>Marks the span of one op: NVTX range, context current, error context; disposes temporaries at the end.</summary>
    internal OpScope Enter(string name, Tensor? a = null, Tensor? b = null, Tensor? c = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        EnsureCurrent();
        if (_opDepth++ == 0)
        {
            _opName = name;
            (_opA, _opB, _opC) = (a, b, c);
        }
        Nvtx.Push(name);
        return new OpScope(this);
    }

    internal readonly struct OpScope(CudaBackend backend) : IDisposable
    {
        public void Dispose() => backend.Leave();
    }

    private void Leave()
    {
        Nvtx.Pop();
        if (--_opDepth > 0)
            return;
        for (int i = _opTemporaries.Count - 1; i >= 0; i--)
            _opTemporaries[i].Dispose();
        _opTemporaries.Clear();
        if (SynchronizeEachOp && _capturing is null) // a capture records: there is nothing to wait for
            CudaDriver.StreamSynchronize(_stream, DescribeCurrentOp());
        (_opA, _opB, _opC) = (null, null, null);
    }

    private string DescribeCurrentOp()
    {
        var shapes = new[] { _opA, _opB, _opC }.Where(t => t is not null).Select(t => t!.ToString());
        return $"{_opName}({string.Join(", ", shapes)})";
    }

    private void EnsureCurrent()
    {
        if (t_currentContext != _context.Handle.Handle)
        {
            _context.MakeCurrent();
            t_currentContext = _context.Handle.Handle;
        }
    }

    /// <summary>A new tensor of this backend (poisoned with NaN bits when <see cref="PoisonNewTensors"/>).</summary>
    internal CudaTensor New(Shape shape, DType dtype, int[]? hostIndices = null, bool tracked = true)
    {
        ulong bytes = CudaTensor.StorageBytes(shape, dtype);
        var block = _pool.Rent(bytes, _opName);
        var t = new CudaTensor(this, shape, dtype, new DeviceBuffer(_pool, block, bytes), tracked) { HostIndices = hostIndices };
        if (PoisonNewTensors)
            CudaDriver.MemsetD32Async(t.Pointer, 0xFFFF_FFFFu, block.Bytes / 4, _stream, "poison");
        return t;
    }

    /// <summary>A temporary tensor disposed when the current op returns.</summary>
    internal CudaTensor Temporary(Shape shape, DType dtype)
    {
        var t = New(shape, dtype, tracked: false);
        _opTemporaries.Add(t);
        return t;
    }

    /// <summary>A tensor of this backend (any type), not disposed.</summary>
    internal CudaTensor Own(Tensor t)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (t is CudaTensor c && ReferenceEquals(t.Backend, this))
        {
            ObjectDisposedException.ThrowIf(c.IsDisposed, c);
            return c;
        }
        throw new ArgumentException($"Tensor {t} is not a tensor of this CUDA backend.");
    }

    /// <summary>A value tensor (BF16 or F32) of this backend.</summary>
    internal CudaTensor Float(Tensor t, string op)
    {
        var c = Own(t);
        if (c.DType is DType.BF16 or DType.F32)
            return c;
        if (c.DType == DType.F8E4M3)
            return DequantisedFp8(c); // every op reads an fp8 weight as its bf16 values (CudaBackend.Fp8Weights.cs)
        throw new ArgumentException($"{op}: tensor {t} holds indices; a BF16 or F32 tensor is needed.");
    }

    /// <summary>An index (I32) tensor of this backend.</summary>
    internal CudaTensor Index(Tensor t, string op)
    {
        var c = Own(t);
        if (c.DType == DType.I32)
            return c;
        throw new ArgumentException($"{op}: tensor {t} is not an index (I32) tensor of this CUDA backend.");
    }

    /// <summary>The BF16 version of a value tensor: itself, or a converted temporary.</summary>
    internal CudaTensor Bf16(CudaTensor t)
    {
        if (t.DType == DType.BF16)
            return t;
        if (t.DType == DType.F8E4M3)
            return DequantisedFp8(t);
        var y = Temporary(t.Shape, DType.BF16);
        ConvertF32ToBf16(t.Pointer, y.Pointer, (ulong)t.ElementCount);
        return y;
    }

    /// <summary>The F32 version of a value tensor: itself, or a converted temporary (exact).</summary>
    internal CudaTensor F32(CudaTensor t)
    {
        if (t.DType == DType.F32)
            return t;
        if (t.DType == DType.F8E4M3)
            t = DequantisedFp8(t);
        var y = Temporary(t.Shape, DType.F32);
        Elementwise("convert_bf16_to_f32", (ulong)t.ElementCount, t.Pointer, y.Pointer, (ulong)t.ElementCount);
        return y;
    }

    internal CudaTensor CopyOf(CudaTensor t)
    {
        var y = New(t.Shape, t.DType);
        CudaDriver.MemcpyDtoDAsync(y.Pointer, t.Pointer, t.ByteCount, _stream, "copy");
        return y;
    }

    internal void ConvertF32ToBf16(CuDevicePtr source, CuDevicePtr destination, ulong count) =>
        Elementwise("convert_f32_to_bf16", count, source, destination, count);

    private void ConvertF16ToBf16(CuDevicePtr source, CuDevicePtr destination, ulong count) =>
        Elementwise("convert_f16_to_bf16", count, source, destination, count);

    /// <summary>Launches a grid-stride kernel over <paramref name="n"/> elements (8 per thread for the vectorised ones).</summary>
    internal void Elementwise(string kernel, ulong n, params ReadOnlySpan<KernelArg> args) =>
        _kernels.Launch(kernel, LaunchConfig.GridStrideBlocks(VectorisedKernels.Threads(kernel, n)), (uint)LaunchConfig.ElementwiseBlock, 0, args);

    internal void Launch(string kernel, Dim3 grid, Dim3 block, uint sharedBytes, params ReadOnlySpan<KernelArg> args) =>
        _kernels.Launch(kernel, grid, block, sharedBytes, args);

    internal CuDevicePtr ScratchSlot(int slot) => new(_scratch.Address + (ulong)slot * 4);

    internal CuStream Stream => _stream;

    /// <summary>Nullable pointer argument.</summary>
    internal static CuDevicePtr PointerOf(CudaTensor? t) => t?.Pointer ?? default;

    private unsafe void CheckDeviceErrors()
    {
        if (!_gatherChecksPending)
            return;
        uint flag;
        CudaDriver.MemcpyDtoHAsync(&flag, ScratchSlot(ScratchGatherError), 4, _stream, "GatherRows error flag");
        CudaDriver.StreamSynchronize(_stream, "GatherRows error flag");
        _gatherChecksPending = false;
        if (flag != 0)
        {
            CudaDriver.MemsetD32Async(ScratchSlot(ScratchGatherError), 0, 1, _stream, "GatherRows error flag");
            throw new AccelAesException("GatherRows: an index computed on the device was outside the table; those rows were filled with NaN.");
        }
    }

    private void Reclaim()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }

    /// <summary>cuMemAlloc / cuMemFree for the pool, with an out-of-memory message that says what was asked and what is free.</summary>
    private sealed class CudaDeviceMemory(CudaBackend owner) : IDeviceMemory
    {
        private ulong _reserved;

        public ulong TryAllocate(ulong bytes)
        {
            if (owner.Options.MemoryLimitBytes is { } limit && _reserved + bytes > limit)
                return 0;
            try
            {
                ulong address = CudaDriver.MemAlloc(bytes).Address;
                _reserved += bytes;
                return address;
            }
            catch (CudaException e) when (e.Status == (int)CuResult.CUDA_ERROR_OUT_OF_MEMORY)
            {
                return 0;
            }
        }

        public void Free(ulong address, ulong bytes)
        {
            CudaDriver.MemFree(new CuDevicePtr(address));
            _reserved -= bytes;
        }

        public Exception OutOfMemory(ulong bytes, string? what)
        {
            var (free, total) = CudaDriver.MemoryInfo();
            if (owner.Options.MemoryLimitBytes is { } limit)
                (free, total) = (Math.Min(free, limit - Math.Min(limit, _reserved)), Math.Min(total, limit));
            var stats = owner._pool.Statistics;
            return new CudaException(CudaApi.Driver, "cuMemAlloc_v2", (int)CuResult.CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY",
                "out of memory",
                $"{(string.IsNullOrEmpty(what) ? "allocation" : what)}: asked {FormatBytes(bytes)}, {FormatBytes(free)} free of {FormatBytes(total)} " +
                $"(this backend holds {FormatBytes(stats.BytesInUse)} in tensors, cached blocks already released)");
        }

        public void Synchronize() => CudaDriver.StreamSynchronize(owner._stream, "memory pool");
    }

    internal static string FormatBytes(ulong bytes) => bytes switch
    {
        >= 1UL << 30 => $"{bytes / (double)(1UL << 30):0.##} GiB",
        >= 1UL << 20 => $"{bytes / (double)(1UL << 20):0.##} MiB",
        >= 1UL << 10 => $"{bytes / 1024.0:0.##} KiB",
        _ => $"{bytes} B",
    };
}
