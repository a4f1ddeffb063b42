using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>The backend's side of <see cref="BlockWeightStream"/> (the <c>sequential</c> residency policy).</summary>
public sealed partial class CudaBackend
{
    private readonly List<BlockWeightStream> _blockStreams = [];

    /// <summary>
    /// A new stream for one transformer's blocks: weights adopted into it live in page-locked host memory and are
    /// uploaded into two device slots as the forward reaches them. Dispose it with the model it holds the blocks of.
    /// </summary>
    public BlockWeightStream CreateBlockStream()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        EnsureCurrent();
        var stream = new BlockWeightStream(this);
        _blockStreams.Add(stream);
        return stream;
    }

    /// <summary>Whether a block stream is open: its steps run eagerly (see <see cref="BlockWeightStream"/>, "Graphs").</summary>
    public bool StreamsBlocks => _blockStreams.Count > 0;

    /// <summary>Every open block stream's uploads so far (for `generate` and `bench`).</summary>
    public IReadOnlyList<BlockStreamStatistics> BlockStreamStatistics() => _blockStreams.Select(s => s.Statistics()).ToList();

    internal bool IsDisposed => _disposed;

    internal void CloseBlockStream(BlockWeightStream stream) => _blockStreams.Remove(stream);

    internal PoolBlock RentBlock(ulong bytes, string what)
    {
        EnsureCurrent();
        return _pool.Rent(bytes, what);
    }

    internal void ReturnBlock(PoolBlock block)
    {
        EnsureCurrent();
        _pool.Return(block);
    }

    /// <summary>Copies a tensor's stored bytes into page-locked host memory and waits for them (loading a streamed weight).</summary>
    internal unsafe void DownloadRaw(CudaTensor tensor, nint host, ulong bytes)
    {
        EnsureCurrent();
        ThrowIfCapturing($"DownloadRaw({tensor})", "waits for the device and copies to the host");
        CudaDriver.MemcpyDtoHAsync((void*)host, tensor.Pointer, bytes, _stream, "copy a weight to its pinned host block");
        CudaDriver.StreamSynchronize(_stream, "copy a weight to its pinned host block");
    }
}
