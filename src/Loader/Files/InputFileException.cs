namespace AccelAes.Loader.Files;

/// <summary>An input path that is not a readable regular file within its size limit; the message names the path and why.</summary>
public sealed class InputFileException : AccelAesException
{
    public InputFileException(string path, FileEntryKind kind, string message) : base(message)
    {
        FilePath = path;
        Kind = kind;
    }

    public InputFileException(string path, FileEntryKind kind, string message, Exception inner) : base(message, inner)
    {
        FilePath = path;
        Kind = kind;
    }

    /// <summary>The full path that was refused.</summary>
    public string FilePath { get; }

    /// <summary>What was found at the path (<see cref="FileEntryKind.RegularFile"/> when the file was too large or unreadable).</summary>
    public FileEntryKind Kind { get; }
}
