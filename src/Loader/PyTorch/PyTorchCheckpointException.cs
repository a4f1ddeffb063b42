namespace AccelAes.Loader.PyTorch;

/// <summary>
/// A PyTorch checkpoint (<c>.pt</c>, <c>.pth</c>, <c>.bin</c>) that cannot be used. The message names the file, the
/// tensor or global involved, and the problem; <see cref="Problem"/> says what is wrong in a machine-checkable way.
/// </summary>
public sealed class PyTorchCheckpointException : AccelAesException
{
    internal PyTorchCheckpointException(PyTorchCheckpointProblem problem, string filePath, string detail, Exception? inner = null)
        : base($"Invalid PyTorch checkpoint '{filePath}': {detail}", inner!)
    {
        Problem = problem;
        FilePath = filePath;
    }

    /// <summary>What is wrong.</summary>
    public PyTorchCheckpointProblem Problem { get; }

    /// <summary>The checkpoint file.</summary>
    public string FilePath { get; }
}
