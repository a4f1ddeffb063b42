using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.Files;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// A pipeline made of a single-file checkpoint and a components folder (<c>--model FILE --components DIR</c>): the
/// file's transformer — and, for an SD3 file, the VAE and text encoders it bundles — in place of the folder's, the
/// tokenizers, scheduler and every other component from the folder (a diffusers pipeline folder: model_index.json;
/// the components the file carries need no weights there, their config.json, when present, is the config they are
/// built with, checked against the tensors). What neither has is an error naming it, before anything loads.
/// </summary>
public static class SingleFileModel
{
    /// <summary>Whether <paramref name="path"/> names a file (a single-file checkpoint) rather than a model folder.</summary>
    public static bool IsFile(string path) => InputFile.KindOf(UserPath.Full(path, "The model")) == FileEntryKind.RegularFile;

    /// <summary>
    /// The model <paramref name="path"/> names: a diffusers folder as it is, or a single file composed with
    /// <paramref name="componentsDir"/>. <paramref name="componentsDir"/> and <paramref name="configDir"/> only mean
    /// something with a file.
    /// </summary>
    public static ModelFolder Open(string path, string? componentsDir, string? configDir)
    {
        // Only a .safetensors file is read as a single-file checkpoint; any other file (an image, a .ckpt) is named as
        // a file where a model folder was expected, not parsed as a safetensors header.
        if (IsFile(path) && !path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            return ModelFolder.Open(path);
        if (!IsFile(path))
        {
            if (componentsDir is not null)
                throw new AccelAesException($"--components: only a single-file --model takes the missing components from a folder; '{path}' is not a file.");
            if (configDir is not null)
                throw new AccelAesException($"--config: only a single-file --model takes its transformer config from a folder; '{path}' is not a file.");
            return ModelFolder.Open(path);
        }
        return Compose(path, componentsDir, configDir);
    }

    /// <summary>Component name → its config.json in <paramref name="componentsRoot"/> (null where there is none, or no folder).</summary>
    public static Func<string, JsonConfig?> ComponentConfigs(string? componentsRoot) => name =>
    {
        if (componentsRoot is null) return null;
        string file = Path.Combine(componentsRoot, name, "config.json");
        return InputFile.Exists(file) ? JsonConfig.Load(file) : null;
    };

    /// <summary>The pipeline class a single file's transformer belongs to.</summary>
    public static string PipelineOf(string transformerClass) => transformerClass switch
    {
        Sd3TransformerConfig.ClassName => "StableDiffusion3Pipeline",
        FluxTransformerConfig.ClassName => "FluxPipeline",
        _ => throw new AccelAesException($"No text-to-image pipeline for a single file holding {transformerClass}."),
    };

    /// <summary>What an SD3 or FLUX pipeline needs (SD3's optional T5 left out); the message lists those the file lacks.</summary>
    private static readonly string[] PipelineNeeds = ["text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "vae", "scheduler"];

    private static ModelFolder Compose(string file, string? componentsDir, string? configDir)
    {
        string? root = componentsDir is null ? null : ModelFolder.RequireFolder(componentsDir);
        string pipeline = PipelineOf(SingleFileCheckpoint.TransformerClassOf(file));
        // The folder must be of the file's model before its component configs are applied to the file's tensors.
        var folder = root is null ? null : ModelFolder.Open(root);
        if (folder is { IsSingleComponent: true })
            throw new AccelAesException($"--components: '{root}' is a single component folder; it must be a diffusers pipeline folder (with model_index.json).");
        if (folder is not null && folder.PipelineClass != pipeline)
            throw new AccelAesException($"--components: '{root}' holds a {folder.PipelineClass}, but '{Path.GetFullPath(file)}' is a {pipeline} model.");
        using var checkpoint = SingleFileCheckpoint.Open(file, configDir, ComponentConfigs(root));
        string source = checkpoint.Source;
        var carried = checkpoint.Parts.Keys.ToList();
        if (root is null || folder is null)
        {
            var missing = PipelineNeeds.Where(n => !checkpoint.Parts.ContainsKey(n));
            throw new AccelAesException(
                $"{source} holds {string.Join(", ", carried)} of a {pipeline}; generating also needs {string.Join(", ", missing)}: "
                + "pass --components DIR, a diffusers folder of the model (model_index.json with those components; the ones the file carries need no weights there).");
        }
        var overrides = new Dictionary<string, ComponentFolder>(StringComparer.Ordinal);
        foreach (var (name, part) in checkpoint.Parts)
            overrides[name] = ComponentFolder.FromSingleFile(new SingleFileComponent(Path.GetFullPath(file), name, configDir, root),
                part.RequireConfig(source), part.ClassName);
        RequireRest(folder, overrides.Keys, source, root);
        return folder.WithComponents(overrides);
    }

    /// <summary>Every component the folder lists and the file lacks is there: a subfolder, and weights for a model.</summary>
    private static void RequireRest(ModelFolder folder, IEnumerable<string> carried, string source, string root)
    {
        var fromFile = carried.ToHashSet(StringComparer.Ordinal);
        foreach (var (name, entry) in folder.Components)
        {
            if (fromFile.Contains(name)) continue;
            string dir = Path.Combine(root, name);
            if (!Directory.Exists(dir))
                throw new AccelAesException($"--components: {source} lacks {name} ({entry.ClassName}), and '{dir}' is missing.");
            bool model = name.StartsWith("text_encoder", StringComparison.Ordinal) || name == "vae";
            if (model && !Directory.EnumerateFiles(dir, "*.safetensors*").Any())
                throw new AccelAesException($"--components: {source} lacks {name} ({entry.ClassName}), and '{dir}' has no weights (*.safetensors).");
        }
    }
}
