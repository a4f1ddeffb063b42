namespace AccelAes.Engine.Tensors;

/// <summary>
/// What <see cref="IBackend.Range"/> returns where nothing is recorded: one shared instance whose Dispose does nothing,
/// so annotating a block costs no allocation on the CPU backend.
/// </summary>
public sealed class ProfilerRange : IDisposable
{
    /// <summary>The no-op range.</summary>
    public static readonly IDisposable None = new ProfilerRange();

    private ProfilerRange() { }

    public void Dispose() { }
}
