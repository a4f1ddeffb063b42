using System.Text;

namespace AccelAes.Loader.SafeTensors;

/// <summary>
/// A safetensors file or sharded checkpoint that cannot be used. <see cref="Problem"/> says what is wrong in a
/// machine-checkable way; the message names the file, the tensor (when one is involved) and the problem.
/// </summary>
public sealed class SafeTensorsFormatException : AccelAesException
{
    // Hostile headers can carry megabyte-long names; the message stays readable, the property keeps the full name.
    private const int MaxNameCharsInMessage = 200;

    internal SafeTensorsFormatException(SafeTensorsProblem problem, string filePath, string? tensorName, string detail,
        Exception? inner = null)
        : base(Compose(problem, filePath, tensorName, detail), inner!)
    {
        Problem = problem;
        FilePath = filePath;
        TensorName = tensorName;
    }

    /// <summary>What is wrong.</summary>
    public SafeTensorsProblem Problem { get; }

    /// <summary>The file (safetensors file, index file or component folder) the problem was found in.</summary>
    public string FilePath { get; }

    /// <summary>The tensor involved, or null for file-level problems.</summary>
    public string? TensorName { get; }

    private static string Compose(SafeTensorsProblem problem, string filePath, string? tensorName, string detail)
    {
        var prefix = problem switch
        {
            SafeTensorsProblem.FileNotFound or SafeTensorsProblem.NotAFile or SafeTensorsProblem.Unreadable
                => "Cannot open safetensors file",
            SafeTensorsProblem.InvalidIndex or SafeTensorsProblem.MissingShard or SafeTensorsProblem.TensorNotInShard
                or SafeTensorsProblem.TensorInTwoShards or SafeTensorsProblem.UnindexedTensor
                => "Invalid sharded checkpoint index",
            _ => "Invalid safetensors file",
        };
        var message = new StringBuilder().Append(prefix).Append(" '").Append(filePath).Append('\'');
        if (tensorName is not null)
            message.Append(", tensor ").Append(QuoteForMessage(tensorName));
        return message.Append(": ").Append(detail).ToString();
    }

    /// <summary>Quotes a name for an error message, escaping control characters and shortening huge names.</summary>
    internal static string QuoteForMessage(string name)
    {
        var text = new StringBuilder("'");
        var shown = Math.Min(name.Length, MaxNameCharsInMessage);
        for (var i = 0; i < shown; i++)
        {
            var c = name[i];
            if (char.IsControl(c))
                text.Append("\\u").Append(((int)c).ToString("x4"));
            else
                text.Append(c);
        }
        text.Append('\'');
        if (name.Length > shown)
            text.Append(" (").Append(name.Length - shown).Append(" more characters)");
        return text.ToString();
    }
}
