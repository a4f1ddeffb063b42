namespace AccelAes.Engine.Tensors;

/// <summary>
/// An op that cannot be part of a captured graph ran during a capture (a host synchronisation, a host↔device copy,
/// a fresh device allocation), or the driver refused the capture. <see cref="Op"/> names the op, so the warning of
/// the eager fallback says what to fix.
/// </summary>
public sealed class GraphCaptureException : AccelAesException
{
    public GraphCaptureException(string op, string reason, Exception? inner = null)
        : base($"Graph capture: {op}: {reason}", inner ?? new InvalidOperationException(reason))
    {
        Op = op;
    }

    /// <summary>The op (with its shapes, where known) that broke the capture.</summary>
    public string Op { get; }
}
