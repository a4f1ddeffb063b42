using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Sampling;

/// <summary>
/// The sampler's "stop on a non-finite latent and name the step" check, without a host synchronisation inside the
/// steps where the backend can count on the device (<see cref="IGraphCapableBackend.CountNonFiniteInto"/>): each
/// step queues its count into a slot of a device array, and the counts are read once, after the last step. The error is the same, naming the first bad step;
/// the steps after it have run on NaN by then, which costs time only on a run that fails anyway. Elsewhere (the
/// CPU) it counts at once, as before.
/// </summary>
internal sealed class NonFiniteCheck : IDisposable
{
    private readonly IBackend _backend;
    private readonly IGraphCapableBackend? _device;
    private readonly Func<int, int, string> _describe;
    private readonly Tensor? _counts;
    private int _checkedUpTo; // steps below this were read back

    /// <param name="describe">The error message for a step and its count of non-finite values.</param>
    public NonFiniteCheck(IBackend backend, int steps, Func<int, int, string> describe)
    {
        _backend = backend;
        _describe = describe;
        if (backend is IGraphCapableBackend { GraphsEnabled: true } device && steps > 0)
        {
            _device = device;
            _counts = backend.UploadIndices(new int[steps], new Shape(steps));
        }
    }

    /// <summary>Counts the non-finite latents of <paramref name="step"/> (queued, or at once without a device counter).</summary>
    public void After(int step, Tensor latents)
    {
        if (_device is null)
        {
            int bad = _backend.CountNonFinite(latents);
            if (bad > 0)
                throw new AccelAesException(_describe(step, bad));
            return;
        }
        _device.CountNonFiniteInto(latents, _counts!, step);
    }

    /// <summary>Reads the queued counts of the steps up to <paramref name="lastStep"/> (one host wait) and throws for the first bad one.</summary>
    public void Flush(int lastStep)
    {
        if (_device is null || _checkedUpTo > lastStep)
            return;
        float[] counts = _backend.Download(_counts!);
        for (int i = _checkedUpTo; i <= lastStep; i++)
            if (counts[i] > 0)
                throw new AccelAesException(_describe(i, (int)counts[i]));
        _checkedUpTo = lastStep + 1;
    }

    public void Dispose() => _counts?.Dispose();
}
