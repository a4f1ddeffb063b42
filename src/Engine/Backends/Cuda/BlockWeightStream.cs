using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>
/// The <c>sequential</c> residency policy on the CUDA backend (issue 15): a transformer's blocks live in page-locked
/// host memory and only two of them are on the device at a time, in two slots the size of the largest block.
/// </summary>
/// <remarks>
/// <para><b>Loading.</b> <see cref="Adopt"/> takes a weight the ordinary upload put on the device (converted to bf16
/// exactly as an all-resident load converts it, so both runs compute with the same bits), copies it into its own
/// cuMemHostAlloc allocation once, frees the device copy, and returns a tensor whose device address is a place in
/// whichever slot holds its block. Weights a model joins at load (q / k / v into one projection, <see cref="TryJoin"/>)
/// are joined on the host, into one streamed weight; the parts leave the block. Offsets in the slot are laid out when
/// the stream is sealed (at the first forward), over the weights the block still holds.</para>
/// <para><b>Streaming.</b> A block is made resident the first time one of its weights' addresses is read (a kernel is
/// being queued that reads it): its slot's upload is ordered before that kernel by a cuStreamWaitEvent on the
/// compute stream for the slot's <c>ready</c> event; then the next block (in load order, which is forward order for
/// every backbone; after the last block, the first, for the next step) is queued on a second, copy stream into the
/// other slot, after a cuStreamWaitEvent for that slot's <c>released</c> event, recorded on the compute stream at
/// that moment — behind every kernel queued so far, the last ones that read the block leaving it. So block i+1's
/// upload overlaps block i's compute, and a slot is overwritten only when the kernels reading it have finished. A
/// block asked for out of order (a first-block cache signal, a skipped block) is uploaded on demand the same way.</para>
/// <para><b>Graphs.</b> Streamed steps are not captured: the slot a block lands in is host state decided while the
/// step is queued, and the uploads run on a second stream, so a captured step would have to fork the capture into
/// the copy stream and would bake one step's slot assignment into every replay. A step that uploads gigabytes over
/// PCIe gains nothing measurable from saving launch overhead, so the backend reports graphs off while a stream is
/// open (<see cref="CudaBackend.GraphsEnabled"/>), and a weight resolved during a capture fails it by name.</para>
/// </remarks>
public sealed class BlockWeightStream : IDisposable
{
    /// <summary>Slot offsets are aligned as pool blocks are (what the kernels' vector loads assume of a tensor's start).</summary>
    private const ulong Alignment = 256;

    /// <summary>Timed uploads kept before the oldest is read back (an event long completed: reading it does not stall).</summary>
    private const int MaxPendingTimings = 64;

    private sealed class Block(string name)
    {
        public string Name { get; } = name;
        public List<StreamedBytes> Tensors { get; } = [];
        public ulong Bytes { get; set; }
    }

    private readonly CudaBackend _backend;
    private readonly List<Block> _blocks = [];
    private readonly Dictionary<string, int> _blockIndex = new(StringComparer.Ordinal);
    private readonly PoolBlock?[] _slots = new PoolBlock?[2];
    private readonly int[] _slotBlock = [-1, -1];
    private readonly CuEvent[] _ready = new CuEvent[2], _released = new CuEvent[2];
    private readonly Queue<(CuEvent Start, CuEvent End, ulong Bytes)> _pendingTimings = new();
    private readonly Stack<CuEvent> _spareTimingEvents = new();
    private CuStream _copyStream;
    private int _activeSlot = -1;
    private bool _sealed, _disposed;
    private long _uploads;
    private ulong _uploadedBytes, _timedBytes, _hostBytes;
    private double _timedMilliseconds;

    internal BlockWeightStream(CudaBackend backend)
    {
        _backend = backend;
    }

    /// <summary>Blocks adopted so far.</summary>
    public int BlockCount => _blocks.Count;

    /// <summary>Bytes of one slot: the largest block (0 before the first forward).</summary>
    public ulong SlotBytes { get; private set; }

    /// <summary>Bytes of every block together, in page-locked host memory.</summary>
    public ulong HostBytes => _hostBytes;

    /// <summary>
    /// Takes weight <paramref name="loaded"/> (a device tensor of this backend, freed here) into block
    /// <paramref name="block"/>'s page-locked host copy and returns the streamed tensor that replaces it.
    /// </summary>
    internal CudaTensor Adopt(string block, CudaTensor loaded)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_sealed)
            throw new InvalidOperationException(
                $"Weight of block '{block}' adopted after the stream's slots were sized (a streamed weight was used before every block had loaded).");
        if (!_blockIndex.TryGetValue(block, out int index))
        {
            index = _blocks.Count;
            _blocks.Add(new Block(block));
            _blockIndex[block] = index;
        }
        ulong bytes = loaded.ByteCount;
        nint host = PinnedCopy(block, bytes);
        try
        {
            _backend.DownloadRaw(loaded, host, bytes);
        }
        catch
        {
            CudaDriver.MemFreeHost(host);
            throw;
        }
        var streamed = Add(index, loaded.Shape, loaded.DType, host, bytes);
        loaded.Dispose();
        return streamed;
    }

    /// <summary>
    /// Concatenation of streamed weights of one block along <paramref name="axis"/> while the stream is still loading,
    /// where it is a concatenation of their bytes (every dimension before the axis is 1: a q / k / v join along the
    /// output rows): the bytes are joined on the host into one streamed weight of the block, and the parts are dropped
    /// from it (their pinned copies freed; reading one afterwards is an error naming it), so the slot holds the joined
    /// weight once. Null where that does not apply (the backend's device Concat runs, reading the weights as a kernel would).
    /// </summary>
    internal CudaTensor? TryJoin(int axis, Shape shape, IReadOnlyList<CudaTensor> parts)
    {
        if (_sealed || _disposed || parts.Count < 2 || shape.Outer(axis) != 1) return null;
        var weights = parts.Select(p => p.Streamed).ToArray();
        if (weights.Any(w => w is null || w.Stream != this || w.Block != weights[0]!.Block || w.Bytes.Dropped)
            || parts.Any(p => p.DType != parts[0].DType))
            return null;
        int index = weights[0]!.Block;
        bool fp8 = parts[0].DType == DType.F8E4M3;
        if (fp8 && axis != 0) return null;
        ulong total = fp8 ? Fp8WeightLayout.Bytes(shape) : (ulong)weights.Sum(w => (long)w!.Bytes.Length);
        nint host = PinnedCopy(_blocks[index].Name, total);
        if (fp8)
            JoinFp8Rows(host, shape, parts);
        else
        {
            ulong at = 0;
            foreach (var w in weights)
            {
                unsafe { Buffer.MemoryCopy((void*)w!.Bytes.Host, (void*)(host + (nint)at), w.Bytes.Length, w.Bytes.Length); }
                at += w.Bytes.Length;
            }
        }
        foreach (var w in weights.Distinct())
        {
            w!.Bytes.Dropped = true;
            _blocks[index].Tensors.Remove(w.Bytes);
            _hostBytes -= w.Bytes.Length;
            CudaDriver.MemFreeHost(w.Bytes.Host);
        }
        return Add(index, shape, parts[0].DType, host, total);
    }

    /// <summary>fp8 weights joined by rows keep <see cref="Fp8WeightLayout"/>: every part's codes, then every part's scales.</summary>
    private static unsafe void JoinFp8Rows(nint host, Shape shape, IReadOnlyList<CudaTensor> parts)
    {
        ulong codes = 0, scales = Fp8WeightLayout.ScalesOffset(shape);
        ulong padding = scales - (ulong)shape.ElementCount;
        new Span<byte>((void*)(host + shape.ElementCount), (int)padding).Clear(); // deterministic bytes between codes and scales
        foreach (var part in parts)
        {
            var bytes = part.Streamed!.Bytes;
            ulong partCodes = (ulong)part.ElementCount, partScales = 4UL * (ulong)part.Shape[0];
            Buffer.MemoryCopy((void*)bytes.Host, (void*)(host + (nint)codes), partCodes, partCodes);
            Buffer.MemoryCopy((void*)(bytes.Host + (nint)Fp8WeightLayout.ScalesOffset(part.Shape)), (void*)(host + (nint)scales), partScales, partScales);
            codes += partCodes;
            scales += partScales;
        }
    }

    private static nint PinnedCopy(string block, ulong bytes)
        => CudaDriver.MemHostAlloc(Math.Max(bytes, 1), CuMemHostAllocFlags.Default, $"pinned host copy of {block} ({CudaBackend.FormatBytes(bytes)})");

    private CudaTensor Add(int block, Shape shape, DType dtype, nint host, ulong bytes)
    {
        var entry = new StreamedBytes(host, bytes);
        _blocks[block].Tensors.Add(entry);
        _hostBytes += bytes;
        return new CudaTensor(_backend, shape, dtype, new StreamedWeight(this, block, entry));
    }

    /// <summary>
    /// The device address of block <paramref name="block"/>'s slot, the block made resident first (see the remarks).
    /// Called when a kernel reading one of its weights is about to be queued on the compute stream.
    /// </summary>
    internal CuDevicePtr Resolve(int block)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_activeSlot >= 0 && _slotBlock[_activeSlot] == block)
            return SlotAddress(_activeSlot);
        if (_backend.IsCapturing)
            throw new GraphCaptureException($"streamed weights of {_blocks[block].Name}",
                "uploads a transformer block on the copy stream (--offload sequential); streamed steps run eagerly");
        Seal();
        int slot = Array.IndexOf(_slotBlock, block);
        if (slot < 0)
        {
            slot = _activeSlot < 0 ? 0 : 1 - _activeSlot;
            Fill(slot, block);
        }
        CudaDriver.StreamWaitEvent(_backend.Stream, _ready[slot], $"wait for the upload of {_blocks[block].Name}");
        _activeSlot = slot;
        int next = (block + 1) % _blocks.Count;
        if (_blocks.Count > 1 && Array.IndexOf(_slotBlock, next) < 0)
            Fill(1 - slot, next);
        return SlotAddress(slot);
    }

    /// <summary>Uploads so far: blocks, bytes, and the copy stream's time for them (events around each block's copies).</summary>
    public BlockStreamStatistics Statistics()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_sealed)
        {
            CudaDriver.StreamSynchronize(_copyStream, "block stream statistics");
            while (_pendingTimings.Count > 0) HarvestOldestTiming();
        }
        return new BlockStreamStatistics(_blocks.Count, SlotBytes, _hostBytes, _uploads, _uploadedBytes, _timedBytes, _timedMilliseconds);
    }

    /// <summary>Sizes and allocates the two slots, the copy stream and its events, at the first forward: every block has loaded.</summary>
    private void Seal()
    {
        if (_sealed) return;
        if (_blocks.Count == 0) throw new InvalidOperationException("A block weight stream with no blocks was used.");
        foreach (var b in _blocks)
        {
            ulong offset = 0;
            foreach (var t in b.Tensors)
            {
                t.Offset = offset;
                offset += (t.Length + Alignment - 1) / Alignment * Alignment;
            }
            b.Bytes = offset;
        }
        SlotBytes = _blocks.Max(b => b.Bytes);
        for (int s = 0; s < 2; s++)
        {
            try
            {
                _slots[s] = _backend.RentBlock(SlotBytes, $"sequential block slot {s} ({CudaBackend.FormatBytes(SlotBytes)}, the largest block)");
            }
            catch
            {
                // Out of device memory for the second slot: give the first back, so a retry (or the error) leaves nothing held.
                if (_slots[0] is { } first) _backend.ReturnBlock(first);
                _slots[0] = null;
                throw;
            }
        }
        _copyStream = CudaDriver.StreamCreate();
        for (int s = 0; s < 2; s++)
        {
            _ready[s] = CudaDriver.EventCreate(CuEventFlags.DisableTiming);
            _released[s] = CudaDriver.EventCreate(CuEventFlags.DisableTiming);
        }
        _sealed = true;
    }

    /// <summary>Queues block <paramref name="block"/>'s upload into <paramref name="slot"/> on the copy stream, after the compute stream leaves the slot.</summary>
    private unsafe void Fill(int slot, int block)
    {
        if (_slotBlock[slot] >= 0)
        {
            // Every kernel that reads the slot's current block is queued already: the event is behind the last of them.
            CudaDriver.EventRecord(_released[slot], _backend.Stream);
            CudaDriver.StreamWaitEvent(_copyStream, _released[slot], $"copy stream waits for the kernels reading {_blocks[_slotBlock[slot]].Name}");
        }
        var b = _blocks[block];
        var (start, end) = (TimingEvent(), TimingEvent());
        CudaDriver.EventRecord(start, _copyStream);
        CuDevicePtr address = SlotAddress(slot);
        foreach (var t in b.Tensors)
            CudaDriver.MemcpyHtoDAsync(address + t.Offset, (void*)t.Host, t.Length, _copyStream, $"upload {b.Name}");
        CudaDriver.EventRecord(end, _copyStream);
        CudaDriver.EventRecord(_ready[slot], _copyStream);
        _slotBlock[slot] = block;
        _uploads++;
        ulong total = (ulong)b.Tensors.Sum(t => (long)t.Length);
        _uploadedBytes += total;
        _pendingTimings.Enqueue((start, end, total));
        if (_pendingTimings.Count > MaxPendingTimings) HarvestOldestTiming();
    }

    private CuEvent TimingEvent() => _spareTimingEvents.Count > 0 ? _spareTimingEvents.Pop() : CudaDriver.EventCreate(CuEventFlags.Default);

    private void HarvestOldestTiming()
    {
        var (start, end, bytes) = _pendingTimings.Dequeue();
        CudaDriver.EventSynchronize(end);
        _timedMilliseconds += CudaDriver.EventElapsedMilliseconds(start, end);
        _timedBytes += bytes;
        _spareTimingEvents.Push(start);
        _spareTimingEvents.Push(end);
    }

    private CuDevicePtr SlotAddress(int slot) => new(_slots[slot]!.Value.Address);

    /// <summary>Waits for both streams, then gives the slots back to the pool and frees the host copies, events and the copy stream.</summary>
    public void Dispose()
    {
        if (_disposed || _backend.IsDisposed) return; // a disposed backend freed its streams first (FreeWithBackend)
        _backend.Synchronize();
        Free();
        _backend.CloseBlockStream(this);
    }

    /// <summary>The backend is being disposed (its compute stream already synchronised): free everything before the pool and context go.</summary>
    internal void FreeWithBackend()
    {
        if (!_disposed) Free();
    }

    private void Free()
    {
        _disposed = true;
        if (_sealed)
        {
            CudaDriver.StreamSynchronize(_copyStream, "dispose block stream");
            for (int s = 0; s < 2; s++)
            {
                _backend.ReturnBlock(_slots[s]!.Value);
                CudaDriver.EventDestroy(_ready[s]);
                CudaDriver.EventDestroy(_released[s]);
            }
            foreach (var (start, end, _) in _pendingTimings)
            {
                CudaDriver.EventDestroy(start);
                CudaDriver.EventDestroy(end);
            }
            foreach (var e in _spareTimingEvents) CudaDriver.EventDestroy(e);
            CudaDriver.StreamDestroy(_copyStream);
        }
        foreach (var b in _blocks)
            foreach (var t in b.Tensors)
                CudaDriver.MemFreeHost(t.Host);
        _blocks.Clear();
    }
}

/// <summary>One weight's page-locked host copy and its offset in a slot (laid out when the stream is sealed).</summary>
internal sealed class StreamedBytes(nint host, ulong length)
{
    public nint Host { get; } = host;
    public ulong Length { get; } = length;
    public ulong Offset { get; set; }

    /// <summary>Joined into another weight of its block (<see cref="BlockWeightStream.TryJoin"/>): freed, no longer streamed.</summary>
    public bool Dropped { get; set; }
}

/// <summary>
/// A weight of a streamed block: its bytes in page-locked host memory, and its offset in whichever slot holds the block.
/// </summary>
internal sealed class StreamedWeight(BlockWeightStream stream, int block, StreamedBytes bytes)
{
    public BlockWeightStream Stream { get; } = stream;
    public int Block { get; } = block;
    public StreamedBytes Bytes { get; } = bytes;

    public CuDevicePtr Resolve() => Stream.Resolve(RequireKept()) + Bytes.Offset;

    /// <summary>The stored bytes on the host (a download needs no upload).</summary>
    public unsafe ReadOnlySpan<byte> HostBytes => RequireKept() >= 0 ? new((void*)Bytes.Host, checked((int)Bytes.Length)) : default;

    private int RequireKept() => Bytes.Dropped
        ? throw new InvalidOperationException("A streamed weight joined into another at load (q / k / v) was read after the join; read the joined weight.")
        : Block;
}

/// <summary>
/// What a <see cref="BlockWeightStream"/> did: its blocks, slot and host bytes, the uploads queued and their bytes, and
/// the copy stream's own time for the uploads read back so far (CUDA events around each block's copies).
/// </summary>
public sealed record BlockStreamStatistics(int Blocks, ulong SlotBytes, ulong HostBytes, long Uploads, ulong UploadedBytes,
    ulong TimedBytes, double TimedMilliseconds)
{
    /// <summary>Bytes per second of the weight stream (host→device DMA), or null where the events measured no time (the emulator).</summary>
    public double? BytesPerSecond => TimedMilliseconds > 0 ? TimedBytes / (TimedMilliseconds / 1000) : null;
}
