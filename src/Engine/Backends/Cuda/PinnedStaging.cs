using System.Runtime.InteropServices;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>
/// Host ↔ device copies through two page-locked (pinned) buffers, so a large weight streams while the CPU
/// fills the next chunk: for chunk i, wait until buffer i % 2 is free (its event), memcpy the chunk into it,
/// queue the async H2D copy (into the destination, or into a device staging chunk followed by a conversion
/// kernel that writes the destination), record the buffer's event. The CPU copy of chunk i+1 overlaps the
/// DMA and conversion of chunk i. Downloads run the same pipeline backwards. Chunk size is a tuning knob
/// (default 64 MiB); pinned buffers are allocated on first use and kept.
/// </summary>
internal sealed unsafe class PinnedStaging : IDisposable
{
    private readonly CuStream _stream;
    private readonly DeviceMemoryPool _pool;
    private readonly nint[] _host = new nint[2];
    private readonly CuEvent[] _events = new CuEvent[2];
    private readonly bool[] _pending = new bool[2];
    private readonly PoolBlock?[] _deviceStaging = new PoolBlock?[2];

    public PinnedStaging(CuStream stream, DeviceMemoryPool pool, ulong chunkBytes)
    {
        _stream = stream;
        _pool = pool;
        ChunkBytes = Math.Max(4096UL, chunkBytes / 16 * 16);
    }

    public ulong ChunkBytes { get; }

    /// <summary>A conversion of <c>count</c> elements from a device staging chunk to the destination.</summary>
    public delegate void Convert(CuDevicePtr source, CuDevicePtr destination, ulong count);

    /// <summary>
    /// Copies <paramref name="source"/> (elements of <paramref name="sourceElementSize"/> bytes) to
    /// <paramref name="destination"/>; with <paramref name="convert"/>, each chunk lands in a device staging
    /// buffer and the conversion writes <paramref name="destinationElementSize"/>-byte elements.
    /// Returns when the last chunk is queued (the source may then be reused; the copy completes in stream order).
    /// </summary>
    public void Upload(ReadOnlySpan<byte> source, int sourceElementSize, CuDevicePtr destination, int destinationElementSize, Convert? convert)
    {
        ulong total = (ulong)source.Length;
        ulong chunk = ChunkBytes / (ulong)sourceElementSize * (ulong)sourceElementSize;
        int slot = 0;
        fixed (byte* src = source)
        {
            for (ulong offset = 0; offset < total; offset += chunk, slot ^= 1)
            {
                ulong bytes = Math.Min(chunk, total - offset);
                byte* host = Acquire(slot);
                Buffer.MemoryCopy(src + offset, host, (long)ChunkBytes, (long)bytes);
                if (convert is null)
                {
                    CudaDriver.MemcpyHtoDAsync(destination + offset, host, bytes, _stream, "upload");
                }
                else
                {
                    var staging = DeviceStaging(slot);
                    CudaDriver.MemcpyHtoDAsync(staging, host, bytes, _stream, "upload");
                    ulong first = offset / (ulong)sourceElementSize;
                    convert(staging, destination + first * (ulong)destinationElementSize, bytes / (ulong)sourceElementSize);
                }
                Release(slot);
            }
        }
    }

    /// <summary>Copies <paramref name="destination"/>.Length bytes from the device; returns when they are on the host.</summary>
    public void Download(CuDevicePtr source, Span<byte> destination)
    {
        ulong total = (ulong)destination.Length;
        if (total == 0)
            return;
        ulong chunk = ChunkBytes;
        fixed (byte* dst = destination)
        {
            // Queue chunk 0, then for each chunk: queue the next one into the other buffer, wait for this one, copy it out.
            Queue(0, 0);
            int slot = 0;
            for (ulong offset = 0; offset < total; offset += chunk, slot ^= 1)
            {
                ulong bytes = Math.Min(chunk, total - offset);
                if (offset + chunk < total)
                    Queue(slot ^ 1, offset + chunk);
                CudaDriver.EventSynchronize(_events[slot]);
                _pending[slot] = false;
                Buffer.MemoryCopy((void*)_host[slot], dst + offset, (long)bytes, (long)bytes);
            }
        }

        void Queue(int s, ulong offset)
        {
            byte* host = Acquire(s);
            CudaDriver.MemcpyDtoHAsync(host, source + offset, Math.Min(chunk, total - offset), _stream, "download");
            Release(s);
        }
    }

    private byte* Acquire(int slot)
    {
        if (_host[slot] == 0)
        {
            _host[slot] = CudaDriver.MemAllocHost(ChunkBytes, "pinned staging buffer");
            _events[slot] = CudaDriver.EventCreate(CuEventFlags.DisableTiming);
        }
        if (_pending[slot])
        {
            CudaDriver.EventSynchronize(_events[slot]);
            _pending[slot] = false;
        }
        return (byte*)_host[slot];
    }

    private void Release(int slot)
    {
        CudaDriver.EventRecord(_events[slot], _stream);
        _pending[slot] = true;
    }

    private CuDevicePtr DeviceStaging(int slot)
    {
        _deviceStaging[slot] ??= _pool.Rent(ChunkBytes, "device staging buffer");
        return new CuDevicePtr(_deviceStaging[slot]!.Value.Address);
    }

    public void Dispose()
    {
        for (int s = 0; s < 2; s++)
        {
            if (_pending[s])
                CudaDriver.EventSynchronize(_events[s]);
            if (_host[s] != 0)
            {
                CudaDriver.MemFreeHost(_host[s]);
                CudaDriver.EventDestroy(_events[s]);
                _host[s] = 0;
            }
            if (_deviceStaging[s] is { } block)
            {
                _pool.Return(block);
                _deviceStaging[s] = null;
            }
        }
    }
}
