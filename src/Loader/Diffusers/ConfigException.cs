namespace AccelAes.Loader.Diffusers;

/// <summary>A config file the engine cannot read or a config value it cannot honour; names the file, field and value.</summary>
public sealed class ConfigException : AccelAesException
{
    public ConfigException(string path, string? field, string message)
        : base(field is null ? $"{path}: {message}" : $"{path}: field '{field}' {message}")
    {
        FilePath = path;
        Field = field;
    }

    public string FilePath { get; }
    public string? Field { get; }
}
