namespace AccelAes.Loader.SafeTensors;

/// <summary>
/// A tensor the model needs is not in the checkpoint. The message names the tensor and the checkpoint and lists
/// the closest existing names, which usually reveals a prefix or naming-convention mismatch.
/// </summary>
public sealed class MissingTensorException : AccelAesException
{
    internal MissingTensorException(string tensorName, string source, IReadOnlyList<string> suggestions)
        : base(Compose(tensorName, source, suggestions))
    {
        TensorName = tensorName;
        Checkpoint = source;
        Suggestions = suggestions;
    }

    /// <summary>The name that was asked for.</summary>
    public string TensorName { get; }

    /// <summary>The file or component (folder, base name, variant) that was searched.</summary>
    public string Checkpoint { get; }

    /// <summary>Up to five existing names closest to <see cref="TensorName"/>, best first.</summary>
    public IReadOnlyList<string> Suggestions { get; }

    private static string Compose(string tensorName, string source, IReadOnlyList<string> suggestions)
    {
        var message = $"Tensor {SafeTensorsFormatException.QuoteForMessage(tensorName)} is not in '{source}'.";
        return suggestions.Count == 0
            ? message + " The checkpoint holds no tensors."
            : message + " Closest names: " + string.Join(", ", suggestions.Select(SafeTensorsFormatException.QuoteForMessage)) + ".";
    }
}
