using AccelAes.Loader.Files;

namespace AccelAes.Loader.Diffusers;

/// <summary>One model component: its folder, its config and the base name of its weight files.</summary>
public sealed class ComponentFolder
{
    private ComponentFolder(string path, JsonConfig config, ComponentEntry? entry, SingleFileComponent? singleFile = null)
    {
        Path = path;
        Config = config;
        Entry = entry;
        SingleFile = singleFile;
    }

    /// <summary>The folder; for a component inside a single-file checkpoint, the file.</summary>
    public string Path { get; }

    /// <summary>Where the weights are when they are one component of a single-file checkpoint (else null: the folder's files).</summary>
    public SingleFileComponent? SingleFile { get; }

    /// <summary>A component whose weights are part of a single-file checkpoint, built with <paramref name="config"/>.</summary>
    public static ComponentFolder FromSingleFile(SingleFileComponent source, JsonConfig config, string className)
        => new(source.FilePath, config,
            new ComponentEntry(source.Component, source.Component.StartsWith("text_encoder", StringComparison.Ordinal) ? "transformers" : "diffusers", className),
            source);
    public JsonConfig Config { get; }
    public ComponentEntry? Entry { get; }

    /// <summary>The model class from config.json (falling back to model_index.json's entry).</summary>
    public string ClassName => Config.ClassName ?? Entry?.ClassName
        ?? throw new ConfigException(Config.FilePath, "_class_name", "is missing, so the model class is unknown.");

    /// <summary>
    /// Weight file base name: diffusers saves <c>diffusion_pytorch_model*.safetensors</c>, transformers
    /// <c>model*.safetensors</c>. Decided by which files exist, so a folder copied without model_index.json works.
    /// </summary>
    public string WeightsBaseName
    {
        get
        {
            if (SingleFile is not null) throw new InvalidOperationException($"{Path}: the component's weights are part of a single file.");
            bool diffusers = Directory.EnumerateFiles(Path, "diffusion_pytorch_model*.safetensors*").Any();
            bool transformers = Directory.EnumerateFiles(Path, "model*.safetensors*").Any();
            if (diffusers) return "diffusion_pytorch_model";
            if (transformers) return "model";
            return Entry?.Library == "transformers" || Config.Has("architectures") ? "model" : "diffusion_pytorch_model";
        }
    }

    public static ComponentFolder Open(string path, ComponentEntry? entry)
    {
        string configPath = System.IO.Path.Combine(path, "config.json");
        if (!InputFile.Exists(configPath))
            throw new AccelAesException($"Component folder '{path}' has no config.json.");
        return new ComponentFolder(path, JsonConfig.Load(configPath), entry);
    }
}

/// <summary>
/// One component (<paramref name="Component"/>: "transformer", "vae", …) of the single-file checkpoint <paramref name="FilePath"/>,
/// opened as it was composed: with <paramref name="ConfigFolder"/> (<c>--config</c>) and <paramref name="ComponentsRoot"/>
/// (<c>--components</c>, whose component configs take precedence over inferred ones). <paramref name="Pipeline"/> is set for a
/// component file of a <c>--components</c> folder of single files (a CLIP / T5 text encoder or VAE file): the pipeline
/// class decides which place the file fills and how it maps; null for a model file (a transformer checkpoint).
/// </summary>
public sealed record SingleFileComponent(string FilePath, string Component, string? ConfigFolder, string? ComponentsRoot, string? Pipeline = null);
