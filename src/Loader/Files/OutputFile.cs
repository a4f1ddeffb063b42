namespace AccelAes.Loader.Files;

/// <summary>
/// How every output file is written (DESIGN.md §7): checked up front, then written to a temporary file beside the
/// target and renamed over it when complete — so a failed or cancelled run leaves the old file (or nothing), never
/// a partial one. The target must be a regular file or nothing: a rename would otherwise replace a device, a pipe
/// or a socket (run as root, <c>--out /dev/null</c> replaced /dev/null). A symbolic link is written through: the
/// file it points to is replaced, the link stays.
/// </summary>
public static class OutputFile
{
    /// <summary>
    /// Checks that <paramref name="path"/> can be written as the output <paramref name="what"/> (an option such as
    /// <c>--out</c>, used in messages) and returns the file that will be written: absolute, symbolic links followed.
    /// Nothing is written except a probe file in the target's folder, deleted at once.
    /// </summary>
    /// <exception cref="AccelAesException">Empty, a folder, not a regular file, under a file, or in a folder where files cannot be created.</exception>
    public static string Check(string path, string what)
    {
        if (OutputPath.EndsInSeparator(path))
            throw new AccelAesException($"{what} '{path}' ends in '{path[^1]}', so it names a folder; give a file path.");
        string target = OutputPath.Resolve(path, what);
        CheckTarget(target, what, path);
        OutputPath.CheckWritableFolderFor(target, what, path);
        return target;
    }

    /// <summary>Writes the output atomically after <see cref="Check"/>: <paramref name="write"/> fills a temporary file renamed over the target.</summary>
    /// <exception cref="AccelAesException">The check failed or the file could not be written; the target is unchanged and no temporary file is left.</exception>
    public static void Write(string path, string what, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        string target = Check(path, what);
        string temp = $"{target}.tmp-{OutputPath.RandomSuffix()}";
        TemporaryOutputs.Track(temp);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            CheckTarget(target, what, path); // again: something may have appeared there while the file was written
            File.Move(temp, target, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AccelAesException($"Cannot write {what} '{path}': {e.Message}", e);
        }
        finally
        {
            TemporaryOutputs.Delete(temp);
            TemporaryOutputs.Untrack(temp);
        }
    }

    /// <summary>Writes <paramref name="bytes"/> as <see cref="Write(string, string, Action{Stream})"/> does.</summary>
    public static void WriteAllBytes(string path, string what, ReadOnlyMemory<byte> bytes) =>
        Write(path, what, stream => stream.Write(bytes.Span));

    private static void CheckTarget(string target, string what, string path)
    {
        PathStatus? status = OutputPath.StatusOf(target, what, path);
        if (status is null || status.Value.IsRegularFile) return;
        string where = target == Path.GetFullPath(path) ? "" : $" (a symbolic link to '{target}')";
        if (status.Value.IsDirectory)
            throw new AccelAesException($"{what} '{path}'{where} is a folder; give a file path.");
        throw new AccelAesException(
            $"{what} '{path}'{where} is {status.Value.Description}; outputs are only written over regular files, never over devices, pipes or sockets.");
    }
}
