namespace AccelAes.Loader.Diffusers;

/// <summary>A model folder argument that names nothing, or something other than a folder (the C ABI returns NOT_FOUND for it).</summary>
public sealed class ModelFolderNotFoundException(string path, string message) : AccelAesException(message)
{
    /// <summary>The full path that was given.</summary>
    public string FolderPath { get; } = path;
}
