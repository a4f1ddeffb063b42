using System.Security.Cryptography;

namespace AccelAes.Loader.Files;

/// <summary>
/// The checks every output path gets before a run starts, shared by <see cref="OutputFile"/> and
/// <see cref="OutputFolder"/>: a path at all, symbolic links followed (the data lands at their target), and a place
/// where files can really be created — found by creating one, not by a list of special file systems such as
/// /proc or /sys. Each failure is an <see cref="AccelAesException"/> naming the option and the path.
/// </summary>
internal static class OutputPath
{
    /// <summary>The absolute path with its symbolic links followed to the final target (which may not exist yet).</summary>
    public static string Resolve(string path, string what)
    {
        string full = UserPath.Full(path, what);
        try
        {
            var info = new FileInfo(full);
            if (info.LinkTarget is null) return full;
            return info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? full;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AccelAesException($"{what} '{path}' cannot be followed: {e.Message}");
        }
    }

    /// <summary>The status of what is at <paramref name="target"/> now (null: nothing), as an AccelAesException on failure.</summary>
    public static PathStatus? StatusOf(string target, string what, string path)
    {
        try
        {
            return PathStatus.Of(target);
        }
        catch (IOException e)
        {
            throw new AccelAesException($"{what} '{path}': {e.Message}");
        }
    }

    /// <summary>
    /// Checks that the folder <paramref name="target"/> goes into is (or can be created as) a folder where this
    /// process can create files: the nearest existing ancestor must be a folder, and a probe file must be creatable in it.
    /// </summary>
    public static void CheckWritableFolderFor(string target, string what, string path)
    {
        string? folder = Path.GetDirectoryName(target);
        while (folder is not null)
        {
            PathStatus? status = StatusOf(folder, what, path);
            if (status is { IsDirectory: true }) break;
            if (status is not null)
                throw new AccelAesException($"{what} '{path}': '{folder}' is {status.Value.Description}, not a folder, so nothing can be written under it.");
            folder = Path.GetDirectoryName(folder);
        }
        if (folder is null)
            throw new AccelAesException($"{what} '{path}': no folder on its way exists.");
        string probe = Path.Combine(folder, $".accelaes-probe-{RandomSuffix()}");
        try
        {
            using var stream = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AccelAesException($"{what} '{path}': files cannot be created in '{folder}' (a test file there failed: {e.Message}).");
        }
    }

    /// <summary>A short random name part for temporary siblings.</summary>
    public static string RandomSuffix() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    public static bool EndsInSeparator(string path) =>
        path.Length > 0 && (path[^1] == Path.DirectorySeparatorChar || path[^1] == Path.AltDirectorySeparatorChar);
}
