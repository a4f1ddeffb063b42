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

    public static string CacheRoot
    {
        get
        {
            string? overridden = Environment.GetEnvironmentVariable("ACCELAES_CACHE_DIR");
            if (!string.IsNullOrEmpty(overridden)) return overridden;
            string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            string xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") ?? Path.Combine(home, ".cache");
            return Path.Combine(xdg, "accelaes");
        }
    }

    /// <summary>The folder of the built-in model, written first if it does not exist yet.</summary>
    public static string EnsureWritten()
    {
        string target = Path.Combine(CacheRoot, "builtin", Name);
        if (File.Exists(Path.Combine(target, "model_index.json"))) return target;
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        string temp = target + ".tmp-" + Guid.NewGuid().ToString("N");
        TinyModels.Write(Arch, temp, seed: 0);
        try
        {
            Directory.Move(temp, target);
        }
        catch (IOException) when (File.Exists(Path.Combine(target, "model_index.json")))
        {
            Directory.Delete(temp, recursive: true); // another process finished first
        }
        return target;
    }
}
