namespace AccelAes.Engine.Tensors;

/// <summary>
/// An optional backend capability: record the work a function queues as a graph once, then replay it with one
/// launch (CUDA graphs). The CPU backend does not have it; <see cref="Sampling.StepGraph"/> is the only intended
/// user, so model code stays backend-neutral.
/// </summary>
/// <remarks>
/// A recorded graph bakes in every kernel argument, including every device address. So a graph may only read
/// inputs that keep their storage between replays (the sampler's latents, the conditioning, weights, and the
/// fixed scalar tensors of <see cref="FillScalars"/>), and what it allocates stays reserved for it until it is
/// disposed. Ops that need the host in the middle of the work (uploads, downloads, synchronisation) fail the
/// capture with <see cref="GraphCaptureException"/>.
/// </remarks>
public interface IGraphCapableBackend : IBackend
{
    /// <summary>Whether graphs are used at all (an option; off = every step runs eagerly).</summary>
    bool GraphsEnabled { get; }

    /// <summary>True between the start and the end of a capture.</summary>
    bool IsCapturing { get; }

    /// <summary>
    /// Records what <paramref name="work"/> queues, without running it, as a graph producing its returned tensor.
    /// Throws <see cref="GraphCaptureException"/> (nothing recorded, nothing run) when an op cannot be captured.
    /// </summary>
    ICapturedGraph Capture(string name, Func<Tensor> work);

    /// <summary>Sets every element of an F32 tensor to <paramref name="value"/> with queued device work (no host wait, no allocation).</summary>
    void FillScalars(Tensor target, float value);

    /// <summary>
    /// Queues: counts[slot] += number of NaN/±∞ elements of <paramref name="x"/> (counts: an I32 tensor), without
    /// waiting for the result; the sampler reads all counts once, outside the steps.
    /// </summary>
    void CountNonFiniteInto(Tensor x, Tensor counts, int slot);

    /// <summary>Captures, replays and fallbacks so far.</summary>
    GraphStatistics GraphStatistics { get; }
}

/// <summary>A recorded graph: <see cref="Launch"/> queues the whole recorded work again, writing <see cref="Output"/>.</summary>
public interface ICapturedGraph : IDisposable
{
    /// <summary>The tensor the recorded work returned; every launch rewrites it (same storage).</summary>
    Tensor Output { get; }

    /// <summary>Queues one replay (asynchronous: no host wait).</summary>
    void Launch();
}

/// <summary>Graph counters of a backend.</summary>
/// <param name="Captures">Graphs recorded.</param>
/// <param name="Replays">Graph launches.</param>
/// <param name="FailedCaptures">Captures abandoned (the work then ran eagerly).</param>
/// <param name="LastFailure">Why the last capture failed (the op and the reason), or null.</param>
public sealed record GraphStatistics(long Captures, long Replays, long FailedCaptures, string? LastFailure);
