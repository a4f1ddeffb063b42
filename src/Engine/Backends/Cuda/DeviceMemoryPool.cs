using System.Collections.Concurrent;
using System.Numerics;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>Where a <see cref="DeviceMemoryPool"/> gets and returns raw device memory (cuMemAlloc / cuMemFree, or a fake in tests).</summary>
public interface IDeviceMemory
{
    /// <summary>A new block of exactly <paramref name="bytes"/> bytes, or 0 when the device is out of memory.</summary>
    ulong TryAllocate(ulong bytes);

    void Free(ulong address, ulong bytes);

    /// <summary>The exception for a request that failed after reclaiming everything (says how much was asked and how much is free).</summary>
    Exception OutOfMemory(ulong bytes, string? what);

    /// <summary>Waits until no queued device work can still touch memory about to be freed.</summary>
    void Synchronize();
}

/// <summary>One block handed out by the pool: its address and its size class (the bytes actually reserved).</summary>
public readonly record struct PoolBlock(ulong Address, ulong Bytes);

/// <summary>Counters of a <see cref="DeviceMemoryPool"/>.</summary>
public sealed record PoolStatistics(
    ulong BytesInUse,
    ulong BytesCached,
    ulong PeakBytesInUse,
    ulong BytesReserved,
    long Rents,
    long Reuses,
    long DeviceAllocations,
    long Reclaims,
    long Trims,
    int BlocksInUse,
    int BlocksCached);

/// <summary>
/// A caching allocator for device memory, so the denoising loop does no cuMemAlloc per op once warm.
/// </summary>
/// <remarks>
/// <para>Design (kept deliberately simple):</para>
/// <list type="bullet">
/// <item>Requests are rounded up to a size class: 512 B minimum, then four classes per power of two
/// (2ᵏ·{1.25, 1.5, 1.75, 2}), so at most 25 % is wasted. Each class has a LIFO free list; a returned block goes
/// back to its class and the next request of that class gets it. A block is one cuMemAlloc, so it is
/// 256-byte aligned (kernels and cuBLASLt rely on that for 16-byte vector accesses).</item>
/// <item>Reuse is stream-ordered: the backend has one stream, and a block returned while kernels that read it
/// are still queued is only handed to work queued after them.</item>
/// <item>Blocks come back through <see cref="Return"/> (a tensor disposed, or a tensor scope closed) or, for
/// tensors nobody disposed, through <see cref="ReturnFromAnyThread"/> from a finalizer (queued, merged on
/// the next rent). Since the GC does not see device memory, the pool asks for a collection
/// (<c>reclaim</c>) after every <see cref="ReclaimThresholdBytes"/> of fresh device allocations, and
/// before giving up on an allocation that failed; then it frees every cached block (<see cref="Trim"/>)
/// and tries once more before throwing the out-of-memory error, which says how much was asked and how
/// much is free.</item>
/// <item>The same sequence of rents and returns gets the same addresses (LIFO lists, no coalescing), which
/// is what replaying a captured CUDA graph needs once shapes are fixed.</item>
/// <item>A capture records into a <see cref="PoolReservation"/>: while it is open, rents must be served from cached
/// blocks (a fresh cuMemAlloc throws <see cref="Tensors.GraphCaptureException"/>: run the step once eagerly
/// first), and every block rented or returned is tagged with it; once closed, those blocks stay the graph's
/// until <see cref="ReleaseReservation"/>.</item>
/// </list>
/// Not thread-safe, except <see cref="ReturnFromAnyThread"/>: the backend drives it from one thread.
/// </remarks>
public sealed class DeviceMemoryPool : IDisposable
{
    /// <summary>The smallest block (and size class).</summary>
    public const ulong MinimumBlockBytes = 512;

    private readonly IDeviceMemory _memory;
    private readonly Action? _reclaim;
    private readonly Dictionary<ulong, Stack<ulong>> _free = new();
    private readonly Dictionary<ulong, ulong> _inUse = new();      // address → class bytes
    private readonly ConcurrentQueue<PoolBlock> _returned = new(); // from finalizers
    private readonly Dictionary<ulong, PoolReservation> _owner = new(); // blocks owned by captured graphs
    private PoolReservation? _recording;                                // the reservation of the capture under way
    private ulong _bytesInUse, _bytesCached, _peak, _sinceReclaim;
    private long _rents, _reuses, _deviceAllocations, _reclaims, _trims;
    private int _blocksCached;
    private volatile bool _disposed;

    /// <param name="memory">The device allocator.</param>
    /// <param name="reclaim">Makes unreachable tensors give their blocks back (GC + finalizers); null: never.</param>
    /// <param name="reclaimThresholdBytes">Fresh device allocations between two reclaims.</param>
    public DeviceMemoryPool(IDeviceMemory memory, Action? reclaim = null, ulong reclaimThresholdBytes = 1UL << 30)
    {
        _memory = memory;
        _reclaim = reclaim;
        ReclaimThresholdBytes = reclaimThresholdBytes;
    }

    public ulong ReclaimThresholdBytes { get; set; }

    /// <summary>Rounds a request up to its size class (see remarks).</summary>
    public static ulong SizeClass(ulong bytes)
    {
        if (bytes <= MinimumBlockBytes)
            return MinimumBlockBytes;
        int k = 63 - BitOperations.LeadingZeroCount(bytes - 1); // 2^k < bytes ≤ 2^(k+1)
        ulong quarter = 1UL << (k - 2);
        return (bytes + quarter - 1) / quarter * quarter;
    }

    /// <summary>A block of at least <paramref name="bytes"/> bytes (a zero-byte request gets a minimum block).</summary>
    public PoolBlock Rent(ulong bytes, string? what = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        DrainReturned();
        ulong size = SizeClass(bytes);
        _rents++;
        if (TryPop(size, out ulong address))
        {
            _reuses++;
            return Hand(address, size);
        }
        if (_reclaim is not null && _sinceReclaim + size > ReclaimThresholdBytes)
        {
            Reclaim();
            if (TryPop(size, out address))
            {
                _reuses++;
                return Hand(address, size);
            }
        }
        if (_recording is not null)
        {
            // Recording a graph: no cuMemAlloc (it is not part of the graph, may synchronise, and the
            // capture would then depend on memory the next run does not have). What the eager warm-up
            // run left as garbage comes back with a reclaim.
            Reclaim();
            if (TryPop(size, out address))
            {
                _reuses++;
                return Hand(address, size);
            }
            throw new Tensors.GraphCaptureException(string.IsNullOrEmpty(what) ? "allocation" : what,
                $"needs {size} B of fresh device memory while recording graph '{_recording.Name}' (no cached block of that size class; " +
                "the pool must be warm: run the same work once eagerly before capturing it)");
        }
        address = _memory.TryAllocate(size);
        if (address == 0)
        {
            Reclaim();
            if (TryPop(size, out address))
            {
                _reuses++;
                return Hand(address, size);
            }
            Trim();
            address = _memory.TryAllocate(size);
            if (address == 0)
                throw _memory.OutOfMemory(size, what);
        }
        _deviceAllocations++;
        _sinceReclaim += size;
        return Hand(address, size);
    }

    /// <summary>Gives a block back (owner thread).</summary>
    public void Return(PoolBlock block)
    {
        if (_disposed)
            return;
        if (!_inUse.ContainsKey(block.Address) || (_owner.TryGetValue(block.Address, out var owner) && owner.Held.Contains(block.Address)))
            throw new InvalidOperationException($"Block 0x{block.Address:x} ({block.Bytes} B) is not in use by this pool (returned twice?).");
        if (_recording is not null && !_owner.ContainsKey(block.Address))
            Tag(_recording, block.Address, block.Bytes); // the graph may have read it: it stays the graph's
        if (_owner.TryGetValue(block.Address, out owner) && !owner.IsOpen)
        {
            owner.Held.Add(block.Address); // a closed graph's block: kept for its replays
            return;
        }
        _inUse.Remove(block.Address);
        _bytesInUse -= block.Bytes;
        if (!_free.TryGetValue(block.Bytes, out var list))
            _free[block.Bytes] = list = new Stack<ulong>();
        list.Push(block.Address);
        _bytesCached += block.Bytes;
        _blocksCached++;
    }

    /// <summary>Gives a block back from any thread (finalizers); it becomes reusable at the next rent.</summary>
    public void ReturnFromAnyThread(PoolBlock block)
    {
        if (!_disposed)
            _returned.Enqueue(block);
    }

    /// <summary>Runs the reclaim callback (GC, finalizers) and takes back what it returned.</summary>
    public void Reclaim()
    {
        _sinceReclaim = 0;
        if (_reclaim is null)
            return;
        _reclaims++;
        _reclaim();
        DrainReturned();
    }

    /// <summary>Frees every cached (unused) block back to the device.</summary>
    public void Trim()
    {
        DrainReturned();
        if (_blocksCached == 0)
            return;
        _trims++;
        _memory.Synchronize();
        foreach (var (size, list) in _free)
            while (list.Count > 0)
                _memory.Free(list.Pop(), size);
        _bytesCached = 0;
        _blocksCached = 0;
    }

    /// <summary>
    /// Starts recording a graph's blocks (see remarks): until <see cref="EndReservation"/>, rents come only from
    /// cached blocks and every block rented or returned becomes the graph's.
    /// </summary>
    public PoolReservation BeginReservation(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_recording is not null)
            throw new InvalidOperationException($"Graph '{_recording.Name}' is still recording; captures do not nest.");
        DrainReturned();
        _recording = new PoolReservation(name);
        return _recording;
    }

    /// <summary>
    /// Ends the recording. The graph's blocks that sit in the free lists now (returned during the capture) leave
    /// them: they are held for the graph (counted as in use) until <see cref="ReleaseReservation"/>.
    /// </summary>
    public void EndReservation(PoolReservation reservation)
    {
        if (!ReferenceEquals(reservation, _recording))
            throw new InvalidOperationException($"Graph '{reservation.Name}' is not the one recording.");
        DrainReturned();
        _recording = null;
        reservation.IsOpen = false;
        foreach (var (size, list) in _free)
        {
            if (!list.Any(reservation.Blocks.ContainsKey))
                continue;
            var keep = list.Where(a => !reservation.Blocks.ContainsKey(a)).Reverse().ToArray();
            foreach (var address in list.Where(reservation.Blocks.ContainsKey))
            {
                reservation.Held.Add(address);
                _inUse.Add(address, size);
                _bytesInUse += size;
                _bytesCached -= size;
                _blocksCached--;
            }
            list.Clear();
            foreach (var a in keep) list.Push(a);
        }
    }

    /// <summary>
    /// The graph is gone: its held blocks go back to the free lists, and the blocks tensors still hold become
    /// ordinary blocks again. Safe while a replay is still queued: reuse is stream-ordered (one stream).
    /// </summary>
    public void ReleaseReservation(PoolReservation reservation)
    {
        if (reservation.IsReleased || _disposed)
            return;
        if (ReferenceEquals(reservation, _recording))
            EndReservation(reservation);
        reservation.IsReleased = true;
        foreach (var address in reservation.Blocks.Keys)
            _owner.Remove(address);
        foreach (var address in reservation.Held)
            Return(new PoolBlock(address, reservation.Blocks[address]));
        reservation.Held.Clear();
    }

    private void Tag(PoolReservation reservation, ulong address, ulong size)
    {
        _owner[address] = reservation;
        reservation.Blocks[address] = size;
    }

    public PoolStatistics Statistics
    {
        get
        {
            DrainReturned();
            return new PoolStatistics(_bytesInUse, _bytesCached, _peak, _bytesInUse + _bytesCached, _rents, _reuses,
                _deviceAllocations, _reclaims, _trims, _inUse.Count, _blocksCached);
        }
    }

    /// <summary>Frees everything, cached and in use (the backend is going away; tensors still alive are dead).</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _memory.Synchronize();
        foreach (var (size, list) in _free)
            while (list.Count > 0)
                _memory.Free(list.Pop(), size);
        foreach (var (address, size) in _inUse)
            _memory.Free(address, size);
        _free.Clear();
        _inUse.Clear();
        _returned.Clear();
        _bytesCached = _bytesInUse = 0;
        _blocksCached = 0;
    }

    private bool TryPop(ulong size, out ulong address)
    {
        if (_free.TryGetValue(size, out var list) && list.Count > 0)
        {
            address = list.Pop();
            _bytesCached -= size;
            _blocksCached--;
            return true;
        }
        address = 0;
        return false;
    }

    private PoolBlock Hand(ulong address, ulong size)
    {
        if (_recording is not null && !_owner.ContainsKey(address))
            Tag(_recording, address, size);
        _inUse.Add(address, size);
        _bytesInUse += size;
        if (_bytesInUse > _peak)
            _peak = _bytesInUse;
        return new PoolBlock(address, size);
    }

    private void DrainReturned()
    {
        while (_returned.TryDequeue(out var block))
            if (_inUse.ContainsKey(block.Address))
                Return(block);
    }
}
