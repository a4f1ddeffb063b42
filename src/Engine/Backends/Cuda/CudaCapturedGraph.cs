using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>
/// An instantiated CUDA graph of one captured step (<see cref="CudaBackend.Capture"/>): the executable graph, the
/// tensor its work returned (rewritten by every launch), and the pool reservation that keeps every block the
/// graph touches at its address for as long as the graph lives.
/// </summary>
internal sealed class CudaCapturedGraph(CudaBackend backend, string name, CuGraphExec exec, CudaTensor output, PoolReservation reservation)
    : ICapturedGraph
{
    private bool _disposed;

    public string Name { get; } = name;

    public Tensor Output { get; } = output;

    /// <summary>Bytes of device memory reserved for this graph.</summary>
    public ulong ReservedBytes => reservation.Bytes;

    public void Launch()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        backend.LaunchGraph(exec, Name);
    }

    /// <summary>
    /// Destroys the executable graph (a replay still queued completes first: the driver frees it asynchronously) and
    /// gives its blocks back to the pool (reuse is stream-ordered). <see cref="Output"/> is not disposed: a caller may
    /// still hold it; it goes back to the pool when it is disposed or collected.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        backend.DestroyGraph(exec, reservation);
    }
}
