using AccelAes.Engine.Tensors;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>
/// CUDA graphs (<see cref="IGraphCapableBackend"/>): capture of a step's work on the backend's one stream, replay,
/// and the two asynchronous helpers a capture-friendly sampling loop needs. Design in README.md ("CUDA graphs").
/// </summary>
/// <remarks>
/// <para><b>Per-step values.</b> A graph bakes in its kernels' arguments. What changes between steps (the timestep,
/// σ) reaches the graph through fixed device tensors that <see cref="FillScalars"/> overwrites with a
/// cuMemsetD32Async queued before the launch; the latents are updated in place, so their address is fixed too.
/// This was chosen over cuGraphExecUpdate because an update needs a freshly captured graph to copy parameters
/// from — re-running the whole host-side forward every step, the cost graphs exist to remove — and over an async
/// copy from pinned host memory because a memset carries its value in the call (copied by the driver when queued):
/// no pinned buffer that the host could overwrite before the copy runs, no host wait, no allocation.</para>
/// <para><b>Memory.</b> The pool records the capture into a <see cref="PoolReservation"/>: rents must come from
/// cached blocks (run the step once eagerly first) and every block rented or returned during the capture stays
/// the graph's — at its address, and out of reach of eager work — until the graph is disposed.</para>
/// <para><b>What cannot be captured.</b> Uploads (host data would be read at replay time, or from pageable
/// memory), downloads and synchronisation (the host would wait inside the step), a fresh cuMemAlloc: each throws
/// <see cref="GraphCaptureException"/> naming the op; the capture is abandoned and nothing it recorded runs.</para>
/// </remarks>
public sealed partial class CudaBackend : IGraphCapableBackend
{
    private string? _capturing;
    private long _captures, _replays, _failedCaptures;
    private string? _lastCaptureFailure;

    /// <summary>See <see cref="CudaBackendOptions.UseGraphs"/>.</summary>
    public bool UseGraphs { get; set; }

    /// <summary>Graphs are used when asked for and no block stream is open (streamed steps run eagerly: <see cref="BlockWeightStream"/>).</summary>
    public bool GraphsEnabled => UseGraphs && !StreamsBlocks;

    public bool IsCapturing => _capturing is not null;

    public GraphStatistics GraphStatistics => new(_captures, _replays, _failedCaptures, _lastCaptureFailure);

    /// <summary>An NVTX range (a no-op costing a null check when libnvToolsExt is absent or no profiler listens).</summary>
    public IDisposable Range(string name)
    {
        Nvtx.Push(name);
        return NvtxRange.Instance;
    }

    public ICapturedGraph Capture(string name, Func<Tensor> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed, this);
        EnsureCurrent();
        if (_capturing is not null)
            throw new InvalidOperationException($"Graph '{_capturing}' is being captured; captures do not nest.");
        if (_opDepth != 0)
            throw new InvalidOperationException($"Capture of '{name}' started inside op {_opName}.");
        using var range = Range($"capture {name}");
        var reservation = _pool.BeginReservation(name);
        try
        {
            CudaDriver.StreamBeginCapture(_stream, CuStreamCaptureMode.ThreadLocal, name);
            _capturing = name;
            Tensor output;
            try
            {
                output = work();
            }
            catch (Exception e)
            {
                AbandonCapture();
                throw e as GraphCaptureException ?? new GraphCaptureException(name, e.Message, e);
            }
            _capturing = null;
            CuGraph graph;
            try
            {
                graph = CudaDriver.StreamEndCapture(_stream, name);
            }
            catch (CudaException e)
            {
                throw new GraphCaptureException(name, $"the driver ended the capture with {e.StatusName} (an op synchronised or used an unsupported call)", e);
            }
            CuGraphExec exec;
            try
            {
                exec = CudaDriver.GraphInstantiate(graph, name);
            }
            finally
            {
                CudaDriver.GraphDestroy(graph);
            }
            _pool.EndReservation(reservation);
            _captures++;
            return new CudaCapturedGraph(this, name, exec, Own(output), reservation);
        }
        catch (Exception e)
        {
            _capturing = null;
            _pool.ReleaseReservation(reservation);
            _failedCaptures++;
            _lastCaptureFailure = e.Message;
            throw;
        }
    }

    public void FillScalars(Tensor target, float value)
    {
        var t = Own(target);
        if (t.DType != DType.F32)
            throw new ArgumentException($"FillScalars: {target} must be F32 (per-step scalars stay exact).");
        using var op = Enter("FillScalars", target);
        CudaDriver.MemsetD32Async(t.Pointer, BitConverter.SingleToUInt32Bits(value), (ulong)t.ElementCount, _stream, "FillScalars");
    }

    public void CountNonFiniteInto(Tensor x, Tensor counts, int slot)
    {
        var cx = Float(x, "CountNonFiniteInto");
        var cc = Index(counts, "CountNonFiniteInto");
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, cc.ElementCount);
        using var op = Enter("CountNonFiniteInto", x, counts);
        ulong n = (ulong)cx.ElementCount;
        Elementwise(cx.DType == DType.F32 ? "count_nonfinite_f32" : "count_nonfinite_bf16", n, cx.Pointer, n, cc.Pointer + (ulong)slot * 4);
    }

    internal void LaunchGraph(CuGraphExec exec, string name)
    {
        if (_capturing is not null)
            throw new GraphCaptureException($"graph '{name}'", $"launched while graph '{_capturing}' is being captured");
        using var op = Enter($"graph {name}");
        CudaDriver.GraphLaunch(exec, _stream, name);
        _replays++;
    }

    internal void DestroyGraph(CuGraphExec exec, PoolReservation reservation)
    {
        if (_disposed)
            return;
        EnsureCurrent();
        CudaDriver.GraphExecDestroy(exec);
        _pool.ReleaseReservation(reservation);
    }

    /// <summary>Fails an op that cannot be recorded into a graph, naming it (the capture is then abandoned).</summary>
    private void ThrowIfCapturing(string op, string why)
    {
        if (_capturing is not null)
            throw new GraphCaptureException(op, $"{why}; it cannot be part of graph '{_capturing}'");
    }

    /// <summary>Ends a capture that failed in the host code; the driver's graph (if any) is dropped unrun.</summary>
    private void AbandonCapture()
    {
        _capturing = null;
        try
        {
            var graph = CudaDriver.StreamEndCapture(_stream, "abandoned capture");
            if (!graph.IsNull)
                CudaDriver.GraphDestroy(graph);
        }
        catch (CudaException)
        {
            // Invalidated captures end with an error status; the stream has left capture mode either way.
        }
    }

    /// <summary>Pops the NVTX range <see cref="Range"/> pushed (one shared instance: no allocation per range).</summary>
    private sealed class NvtxRange : IDisposable
    {
        public static readonly NvtxRange Instance = new();

        public void Dispose() => Nvtx.Pop();
    }
}
