using System.Collections.Concurrent;

namespace AccelAes.Loader.Files;

/// <summary>
/// The temporary files and folders outputs are being written to right now. Every writer deletes its own in a
/// <c>finally</c>; this list is for the one case where that cannot run: a process ended on Ctrl-C while a command
/// was not listening for cancellation, which removes them here before it exits.
/// </summary>
public static class TemporaryOutputs
{
    private static readonly ConcurrentDictionary<string, byte> Paths = new(StringComparer.Ordinal);

    /// <summary>Lists a temporary file or folder an output is being written to (until <see cref="Untrack"/>).</summary>
    public static void Track(string path) => Paths[path] = 0;

    public static void Untrack(string path) => Paths.TryRemove(path, out _);

    /// <summary>Deletes every temporary output still listed (best effort: each failure is skipped).</summary>
    public static void DeleteAll()
    {
        foreach (string path in Paths.Keys)
        {
            Delete(path);
            Untrack(path);
        }
    }

    /// <summary>Deletes one temporary file or folder, if it is there (best effort).</summary>
    public static void Delete(string path)
    {
        try
        {
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
            else File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // best effort: the error that stopped the write is the one worth reporting
        }
    }
}
