using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>
/// Device storage shared by a tensor and its reshapes: a pool block plus a reference count. The last
/// <see cref="Release"/> (a tensor disposed, a scope closed) gives the block back to the pool at once; a
/// buffer whose tensors were never disposed goes back from its finalizer when the GC finds it unreachable
/// (no new work can then be queued on it, and work already queued runs before any reuse: one stream).
/// </summary>
internal sealed class DeviceBuffer
{
    private readonly DeviceMemoryPool _pool;
    private readonly PoolBlock _block;
    private int _references;

    public DeviceBuffer(DeviceMemoryPool pool, PoolBlock block, ulong bytes)
    {
        _pool = pool;
        _block = block;
        Bytes = bytes;
    }

    ~DeviceBuffer() => _pool.ReturnFromAnyThread(_block);

    /// <summary>The requested size (the block may be larger).</summary>
    public ulong Bytes { get; }

    public bool IsReleased { get; private set; }

    public CuDevicePtr Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsReleased, this);
            return new CuDevicePtr(_block.Address);
        }
    }

    public void AddReference() => Interlocked.Increment(ref _references);

    public void Release()
    {
        if (Interlocked.Decrement(ref _references) != 0 || IsReleased)
            return;
        IsReleased = true;
        GC.SuppressFinalize(this);
        _pool.Return(_block);
    }
}

/// <summary>
/// A tensor of the CUDA backend: a device pointer (256-byte aligned: the start of a pool block, shared by
/// reshapes), a shape and a storage type — BF16 for activations and weights, F32 for host uploads and
/// fp32 state (latents, timesteps, tables), I32 for indices. See <see cref="CudaBackend"/> for the rules.
/// </summary>
public sealed class CudaTensor : Tensor
{
    private bool _disposed;

    internal CudaTensor(CudaBackend backend, Shape shape, DType dtype, DeviceBuffer buffer, bool tracked = true)
        : base(backend, shape, dtype)
    {
        Buffer = buffer;
        buffer.AddReference();
        if (tracked)
            backend.Track(this);
    }

    /// <summary>A weight streamed by a <see cref="BlockWeightStream"/> (<c>--offload sequential</c>): it owns no device storage.</summary>
    internal CudaTensor(CudaBackend backend, Shape shape, DType dtype, StreamedWeight streamed)
        : base(backend, shape, dtype)
    {
        Streamed = streamed;
        backend.Track(this);
    }

    /// <summary>The device storage; null for a streamed weight, whose address is its block's slot's (<see cref="Streamed"/>).</summary>
    internal DeviceBuffer? Buffer { get; }

    internal StreamedWeight? Streamed { get; }

    /// <summary>For I32 tensors uploaded from the host: the values, so gathers can be bounds-checked without a device round trip.</summary>
    internal int[]? HostIndices { get; init; }

    /// <summary>Device address of element 0.</summary>
    public CuDevicePtr Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            // A streamed weight's block is made resident now: its address is read because a kernel reading it is being queued.
            return Streamed is { } streamed ? streamed.Resolve() : Buffer!.Pointer;
        }
    }

    public bool IsDisposed => _disposed;

    /// <summary>Bytes per element of <see cref="Tensor.DType"/>.</summary>
    public int ElementSize => SizeOf(DType);

    /// <summary>Bytes of the storage: elements × <see cref="ElementSize"/>; an fp8 weight's also holds its scales (<see cref="Fp8WeightLayout"/>).</summary>
    public ulong ByteCount => StorageBytes(Shape, DType);

    internal static int SizeOf(DType dtype) => dtype switch
    {
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 => 2,
        DType.F8E4M3 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    internal static ulong StorageBytes(Shape shape, DType dtype)
        => dtype == DType.F8E4M3 ? Fp8WeightLayout.Bytes(shape) : (ulong)shape.ElementCount * (ulong)SizeOf(dtype);

    protected override Tensor ReshapeCore(Shape shape)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // An fp8 weight's scales are per output row: only a reshape that keeps [out, in] keeps their meaning.
        if (DType == DType.F8E4M3 && shape != Shape)
            throw new NotSupportedException($"An fp8 weight {Shape} cannot be reshaped to {shape} (its scales are per output row).");
        if (Streamed is { } streamed) return new CudaTensor((CudaBackend)Backend, shape, DType, streamed);
        return new CudaTensor((CudaBackend)Backend, shape, DType, Buffer!) { HostIndices = HostIndices };
    }

    /// <summary>Drops this tensor's reference to its storage; the block returns to the pool when no reshape holds it.</summary>
    public override void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            Buffer?.Release();
        }
        base.Dispose();
    }
}

/// <summary>
/// A frame of tensor lifetimes: every CUDA tensor created while the scope is the innermost open one is
/// disposed when the scope is, unless it was handed out with <see cref="Keep{T}"/> (then it belongs to the
/// enclosing scope, or to no scope). Meant for the engine's step loop (<c>using var s = cuda.BeginScope();
/// … return s.Keep(velocity);</c>): the step's intermediates go back to the pool at the end of the step,
/// deterministically, with no GC involved — the same addresses every step, as CUDA-graph replay needs.
/// Scopes nest and must be closed innermost first. Not thread-safe (like the backend).
/// </summary>
public sealed class TensorScope : IDisposable
{
    private readonly CudaBackend _backend;
    private readonly List<CudaTensor> _tensors = [];
    private bool _closed;

    internal TensorScope(CudaBackend backend, TensorScope? parent)
    {
        _backend = backend;
        Parent = parent;
    }

    internal TensorScope? Parent { get; }

    /// <summary>Tensors this scope will dispose.</summary>
    public int Count => _tensors.Count;

    internal void Add(CudaTensor tensor) => _tensors.Add(tensor);

    /// <summary>Moves <paramref name="tensor"/> out of this scope (into the parent scope, if any) and returns it.</summary>
    public T Keep<T>(T tensor) where T : Tensor
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        if (tensor is CudaTensor cuda && _tensors.Remove(cuda))
            Parent?.Add(cuda);
        return tensor;
    }

    public void Dispose()
    {
        if (_closed)
            return;
        _backend.CloseScope(this);
        _closed = true;
        // Newest first: the pool's free lists are LIFO, so the next step's identical sequence of allocations gets
        // the same addresses back.
        for (int i = _tensors.Count - 1; i >= 0; i--)
            _tensors[i].Dispose();
        _tensors.Clear();
    }
}
