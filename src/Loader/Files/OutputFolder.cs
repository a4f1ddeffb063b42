namespace AccelAes.Loader.Files;

/// <summary>
/// How a whole output folder (a model written by <c>make-tiny</c>) is written: complete, under a temporary sibling
/// name, then swapped in. A result is never a mix of old and new files, and a failure leaves the old folder as it
/// was. An existing non-empty folder is replaced only when asked to (<c>replace</c>), and then only if it
/// is a model folder itself — never an arbitrary folder such as a home directory.
/// </summary>
public static class OutputFolder
{
    /// <summary>The files that mark a model folder (a pipeline or a single component).</summary>
    private static readonly string[] ModelMarkers = ["model_index.json", "config.json"];

    /// <summary>Checks <paramref name="path"/> up front; returns the folder that will be written (absolute, links followed).</summary>
    /// <exception cref="AccelAesException">Not a folder, non-empty without <paramref name="replace"/>, not a model folder, or in a place where nothing can be created.</exception>
    public static string Check(string path, string what, bool replace)
    {
        string target = OutputPath.Resolve(string.IsNullOrWhiteSpace(path) ? path : Path.TrimEndingDirectorySeparator(path), what);
        PathStatus? status = OutputPath.StatusOf(target, what, path);
        if (status is { IsDirectory: false })
            throw new AccelAesException($"{what} '{path}' is {status.Value.Description}, not a folder; give a folder path (it is created if missing).");
        if (status is not null && Directory.EnumerateFileSystemEntries(target).Any())
        {
            if (!replace)
                throw new AccelAesException($"{what} '{path}' already exists and is not empty; use --force to replace it as a whole.");
            if (!ModelMarkers.Any(m => File.Exists(Path.Combine(target, m))))
                throw new AccelAesException(
                    $"{what} '{path}' is not a model folder (it has no {string.Join(" or ", ModelMarkers)}); only model folders are replaced, even with --force.");
        }
        if (Path.GetDirectoryName(target) is null)
            throw new AccelAesException($"{what} '{path}' is a file system root; give a folder below it.");
        OutputPath.CheckWritableFolderFor(target, what, path);
        return target;
    }

    /// <summary>
    /// Writes the folder: <paramref name="writeInto"/> fills a fresh temporary sibling, which then takes the place of
    /// <paramref name="path"/> (the old folder, if any, is removed only after the new one is in place).
    /// </summary>
    /// <returns>The folder written (absolute).</returns>
    public static string Write(string path, string what, bool replace, Action<string> writeInto)
    {
        ArgumentNullException.ThrowIfNull(writeInto);
        string target = Check(path, what, replace);
        string parent = Path.GetDirectoryName(target)!, name = Path.GetFileName(target);
        string temp = Path.Combine(parent, $".{name}.tmp-{OutputPath.RandomSuffix()}");
        TemporaryOutputs.Track(temp);
        try
        {
            Directory.CreateDirectory(temp);
            writeInto(temp);
            SwapIn(temp, target, parent, name);
            return target;
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

    private static void SwapIn(string temp, string target, string parent, string name)
    {
        if (!Directory.Exists(target))
        {
            Directory.Move(temp, target);
            return;
        }
        if (!Directory.EnumerateFileSystemEntries(target).Any())
        {
            Directory.Delete(target);
            Directory.Move(temp, target);
            return;
        }
        string old = Path.Combine(parent, $".{name}.old-{OutputPath.RandomSuffix()}");
        Directory.Move(target, old);
        try
        {
            Directory.Move(temp, target);
        }
        catch
        {
            Directory.Move(old, target); // put the old folder back: a failure must leave it as it was
            throw;
        }
        TemporaryOutputs.Delete(old);
    }
}
