using AccelAes.Loader.Files;

namespace AccelAes.Engine.Tiny;

/// <summary>
/// The model `accelaes generate` uses when no folder is given: the tiny SD3 pipeline, written once into the
/// user's cache so it loads through exactly the path real folders take. Writing goes to a temporary folder
/// that is renamed into place, so an interrupted first run never leaves a half-written model behind.
/// </summary>
public static class BuiltInModel
{
    /// <summary>Bump when the tiny spec changes, so stale caches are not reused.</summary>
    public const string Name = "sd3-tiny-v1";
    public const string Arch = "sd3";

    /// <summary>The variable that moves AccelAes' caches (this model, compiled kernels) elsewhere.</summary>
    public const string CacheDirectoryVariable = "ACCELAES_CACHE_DIR";

    public static string CacheRoot
    {
        get
        {
            string? overridden = Environment.GetEnvironmentVariable(CacheDirectoryVariable);
            if (!string.IsNullOrEmpty(overridden)) return overridden;
            string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            string xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") ?? Path.Combine(home, ".cache");
            return Path.Combine(xdg, "accelaes");
        }
    }

    /// <summary>Where the built-in model lives (whether or not it has been written yet).</summary>
    public static string Folder => Path.Combine(CacheRoot, "builtin", Name);

    /// <summary>The folder of the built-in model, written first if it does not exist yet.</summary>
    /// <exception cref="AccelAesException">The cache folder is a file or cannot be written; the message names <see cref="CacheDirectoryVariable"/>.</exception>
    public static string EnsureWritten()
    {
        string target = Folder;
        if (File.Exists(Path.Combine(target, "model_index.json"))) return target;
        string root = CacheRoot;
        string temp = target + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            if (File.Exists(root)) throw new IOException("it is a file, not a folder");
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            TemporaryOutputs.Track(temp);
            TinyModels.Write(Arch, temp, seed: 0);
            try
            {
                Directory.Move(temp, target);
            }
            catch (IOException) when (File.Exists(Path.Combine(target, "model_index.json")))
            {
                // another process finished first: its copy is identical
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string where = Environment.GetEnvironmentVariable(CacheDirectoryVariable) is { Length: > 0 }
                ? $"{CacheDirectoryVariable} '{root}'"
                : $"the cache folder '{root}' (set {CacheDirectoryVariable} to use another)";
            throw new AccelAesException($"Cannot write the built-in model into {where}: {e.Message}.", e);
        }
        finally
        {
            TemporaryOutputs.Delete(temp);
            TemporaryOutputs.Untrack(temp);
        }
        return target;
    }
}
