using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.Files;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// A pipeline made of a single-file checkpoint and a components folder (<c>--model FILE --components DIR</c>): the
/// file's transformer — and the VAE and text encoders an all-in-one file bundles (<see cref="BundledComponents"/>) — in
/// place of the folder's (the file's win over the folder's weights and component files, as ComfyUI's checkpoint loader
/// takes what a checkpoint bundles), the
/// tokenizers, scheduler and every other component from the folder: a diffusers pipeline folder (model_index.json;
/// the components the file carries need no weights there, their config.json, when present, is the config they are
/// built with, checked against the tensors), or a folder of single files (<see cref="ComponentFilesFolder"/>: text
/// encoder and VAE files, with the tokenizer folders and scheduler/ of the diffusers repo beside them; both at once
/// when it has a model_index.json). What none has is an error naming it, before anything loads.
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
        bool singleFiles = root is not null && ComponentFilesFolder.HoldsSingleFiles(root);
        // A folder of single files needs no model_index.json; with one (a diffusers folder holding single files too) it is
        // read as a pipeline folder whose components may come from those files.
        var folder = root is null || (singleFiles && !InputFile.Exists(Path.Combine(root, "model_index.json"))) ? null : ModelFolder.Open(root);
        // The folder must be of the file's model before its component configs are applied to the file's tensors.
        if (folder is { IsSingleComponent: true })
            throw new AccelAesException($"--components: '{root}' is a single component folder; it must be a diffusers pipeline folder (with model_index.json) or a folder of single files.");
        if (folder is not null && folder.PipelineClass != pipeline)
            throw new AccelAesException($"--components: '{root}' holds a {folder.PipelineClass}, but '{Path.GetFullPath(file)}' is a {pipeline} model.");
        using var checkpoint = SingleFileCheckpoint.Open(file, configDir, ComponentConfigs(root));
        string source = checkpoint.Source;
        var carried = checkpoint.Parts.Keys.ToList();
        if (root is null)
        {
            var missing = PipelineNeeds.Where(n => !checkpoint.Parts.ContainsKey(n));
            throw new AccelAesException(
                $"{source} holds {string.Join(", ", carried)} of a {pipeline}; generating also needs {string.Join(", ", missing)}: "
                + "pass --components DIR, a diffusers folder of the model (model_index.json with those components; the ones the file carries need no weights there), "
                + "or a folder of single files (clip_l.safetensors, t5xxl_fp16.safetensors, ae.safetensors, … with the tokenizer folders and scheduler/ of the diffusers repo).");
        }
        var overrides = new Dictionary<string, ComponentFolder>(StringComparer.Ordinal);
        foreach (var (name, part) in checkpoint.Parts)
            overrides[name] = ComponentFolder.FromSingleFile(new SingleFileComponent(Path.GetFullPath(file), name, configDir, root),
                part.RequireConfig(source), part.ClassName);
        var fromFiles = singleFiles ? AddComponentFiles(overrides, root, pipeline, folder, file) : new Dictionary<string, string>();
        if (folder is not null)
        {
            RequireRest(folder, overrides.Keys, source, root);
            return folder.WithComponents(overrides);
        }
        return ComposeWithoutIndex(root, pipeline, overrides, fromFiles);
    }

    /// <summary>The component files of a folder of single files, added to <paramref name="overrides"/>; returns component → file.</summary>
    private static IReadOnlyDictionary<string, string> AddComponentFiles(Dictionary<string, ComponentFolder> overrides, string root, string pipeline,
        ModelFolder? folder, string modelFile)
    {
        var configs = ComponentConfigs(root);
        var assigned = ComponentFilesFolder.Assign(root, pipeline, Path.GetFullPath(modelFile), configs);
        foreach (var (name, componentFile) in assigned)
        {
            // The model file's bundled component wins: an all-in-one file is one model, whatever else lies in the folder.
            if (overrides.ContainsKey(name)) continue;
            string dir = Path.Combine(root, name);
            if (folder is not null && Directory.Exists(dir) && Directory.EnumerateFiles(dir, "*.safetensors*").Any())
                throw new AccelAesException($"--components: '{componentFile}' and the weights in '{dir}' are both {name}; keep one of them.");
            using var checkpoint = SingleFileCheckpoint.OpenComponentFile(componentFile, pipeline, name, configs);
            var part = checkpoint.Parts[name];
            overrides[name] = ComponentFolder.FromSingleFile(new SingleFileComponent(componentFile, name, null, root, pipeline),
                part.RequireConfig(checkpoint.Source), part.ClassName);
        }
        return assigned;
    }

    /// <summary>
    /// A folder of single files without model_index.json: the pipeline is the model file's; the tokenizers and the scheduler
    /// are the folder's <c>tokenizer*/</c> and <c>scheduler/</c> (no single file holds them), named when missing.
    /// </summary>
    private static ModelFolder ComposeWithoutIndex(string root, string pipeline, Dictionary<string, ComponentFolder> overrides,
        IReadOnlyDictionary<string, string> fromFiles)
    {
        var subfolders = new List<ComponentEntry>();
        foreach (string name in new[] { "tokenizer", "tokenizer_2", "tokenizer_3" })
            if (Directory.Exists(Path.Combine(root, name))) subfolders.Add(new ComponentEntry(name, "transformers", "PreTrainedTokenizer"));
        if (Directory.Exists(Path.Combine(root, "scheduler")))
            subfolders.Add(new ComponentEntry("scheduler", "diffusers", "FlowMatchEulerDiscreteScheduler"));
        var present = overrides.Keys.Concat(subfolders.Select(e => e.Name)).ToHashSet(StringComparer.Ordinal);
        var needs = overrides.ContainsKey("text_encoder_3") ? [.. PipelineNeeds, "tokenizer_3"] : PipelineNeeds;
        var missing = needs.Where(n => !present.Contains(n)).ToList();
        if (missing.Count > 0)
        {
            var slots = ComponentSlot.Of(pipeline);
            var files = missing.Where(n => slots.Any(s => s.Component == n)).Select(n => $"{n} ({slots.First(s => s.Component == n).Label} file)");
            var folders = missing.Where(n => slots.All(s => s.Component != n)).Select(n => n + "/");
            string found = fromFiles.Count == 0 ? "no component files" : string.Join(", ", fromFiles.Select(f => $"{Path.GetFileName(f.Value)} → {f.Key}"));
            throw new AccelAesException(
                $"--components: the folder of single files '{root}' ({found}) lacks {string.Join(", ", files.Concat(folders))}"
                + (folders.Any() ? $": no single file holds the tokenizers or the scheduler; copy those folders of a diffusers {pipeline} (the repo's small files, no weights) into it." : "."));
        }
        return ModelFolder.Composed(root, pipeline, subfolders, overrides);
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
