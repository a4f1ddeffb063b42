using System.Text.Json;
using AccelAes.Loader.Files;

namespace AccelAes.Loader.Diffusers;

/// <summary>
/// A diffusers pipeline folder (<c>model_index.json</c> + one subfolder per component) or a single
/// component folder (a <c>config.json</c> beside its weights).
/// </summary>
public sealed class ModelFolder
{
    private readonly Dictionary<string, ComponentEntry> _components;
    private readonly Dictionary<string, ComponentFolder> _overrides;

    private ModelFolder(string root, string? pipelineClass, Dictionary<string, ComponentEntry> components,
        Dictionary<string, ComponentFolder>? overrides = null)
    {
        Root = root;
        PipelineClass = pipelineClass;
        _components = components;
        _overrides = overrides ?? new Dictionary<string, ComponentFolder>(StringComparer.Ordinal);
    }

    /// <summary>
    /// This pipeline folder with <paramref name="overrides"/> in place of (or in addition to) its own components: a
    /// single-file checkpoint's transformer (and VAE, text encoders) with the tokenizers, scheduler and remaining
    /// components of this folder (<c>--model FILE --components DIR</c>).
    /// </summary>
    public ModelFolder WithComponents(IReadOnlyDictionary<string, ComponentFolder> overrides)
    {
        if (IsSingleComponent) throw new InvalidOperationException("Only a pipeline folder takes component overrides.");
        var components = new Dictionary<string, ComponentEntry>(_components);
        foreach (var (name, folder) in overrides)
            components[name] = new ComponentEntry(name, folder.Entry?.Library ?? "diffusers", folder.ClassName);
        return new ModelFolder(Root, PipelineClass, components, new Dictionary<string, ComponentFolder>(overrides));
    }

    /// <summary>
    /// A pipeline of class <paramref name="pipelineClass"/> rooted at <paramref name="root"/> without a model_index.json (a
    /// <c>--components</c> folder of single files): its components are <paramref name="subfolders"/> of the root (tokenizers,
    /// scheduler) and <paramref name="overrides"/>.
    /// </summary>
    public static ModelFolder Composed(string root, string pipelineClass, IEnumerable<ComponentEntry> subfolders, IReadOnlyDictionary<string, ComponentFolder> overrides)
        => new ModelFolder(root, pipelineClass, subfolders.ToDictionary(e => e.Name, StringComparer.Ordinal)).WithComponents(overrides);

    /// <summary>Whether component <paramref name="name"/> comes from an override (a single file) rather than a subfolder.</summary>
    public bool IsOverridden(string name) => _overrides.ContainsKey(name);

    /// <summary>The folder's absolute path.</summary>
    public string Root { get; }

    /// <summary>model_index.json's <c>_class_name</c> (e.g. StableDiffusion3Pipeline); null for a single component.</summary>
    public string? PipelineClass { get; }

    /// <summary>True when the folder is a component itself rather than a pipeline.</summary>
    public bool IsSingleComponent => PipelineClass is null;

    /// <summary>Components named by model_index.json (name → library and class); empty entries are dropped.</summary>
    public IReadOnlyDictionary<string, ComponentEntry> Components => _components;

    public static ModelFolder Open(string path)
    {
        string root = RequireFolder(path);
        string index = System.IO.Path.Combine(root, "model_index.json");
        if (InputFile.Exists(index))
            return ParseIndex(root, index);
        if (InputFile.Exists(System.IO.Path.Combine(root, "config.json")))
            return new ModelFolder(root, null, new Dictionary<string, ComponentEntry>());
        throw new AccelAesException($"'{root}' is not a diffusers model folder: it has neither model_index.json nor config.json.");
    }

    /// <summary>
    /// The full path of <paramref name="path"/> when it is an existing folder, else an error that says what is there
    /// instead: nothing, a file (e.g. an image passed by mistake), a looping link. The CLI and the C ABI both check
    /// a model folder argument here.
    /// </summary>
    public static string RequireFolder(string path)
    {
        string root = UserPath.Full(path, "The model folder");
        FileEntryKind kind = InputFile.KindOf(root);
        switch (kind)
        {
            case FileEntryKind.Directory:
                return root;
            case FileEntryKind.Missing:
                throw new ModelFolderNotFoundException(root, $"Model folder '{root}' does not exist.");
            case FileEntryKind.RegularFile when root.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase):
                // A single-file checkpoint lacks at least the tokenizers and scheduler: only the commands that compose it
                // with a components folder take it.
                throw new ModelFolderNotFoundException(root,
                    $"Model folder '{root}' is a file, not a model folder: a single-file checkpoint holds the transformer (an SD3 file perhaps its VAE "
                    + "and text encoders), without the tokenizers and scheduler this command needs; pass a diffusers pipeline folder "
                    + "(the one with model_index.json), generate with `accelaes generate --model FILE --components DIR`, or run the file's "
                    + "transformer with `accelaes forward --model FILE` (one forward) or `accelaes denoise --model FILE` (precomputed embeddings).");
            case FileEntryKind.RegularFile:
                throw new ModelFolderNotFoundException(root,
                    $"Model folder '{root}' is a file, not a model folder; pass a diffusers pipeline folder (the one with model_index.json).");
            default:
                throw new ModelFolderNotFoundException(root, $"Model folder '{root}' {InputFile.Describe(kind)}, not a model folder.");
        }
    }

    /// <summary>
    /// The component folder <paramref name="name"/> ("transformer", "vae", "text_encoder", ...). For a single
    /// component folder, the folder itself is returned whatever the name.
    /// </summary>
    public ComponentFolder Component(string name)
    {
        if (IsSingleComponent) return ComponentFolder.Open(Root, null);
        if (_overrides.TryGetValue(name, out var overridden)) return overridden;
        PathRules.RequireComponentName(name);
        string dir = System.IO.Path.Combine(Root, name);
        if (!_components.ContainsKey(name) && !Directory.Exists(dir))
            throw new AccelAesException(
                $"Model folder '{Root}' has no component '{name}'. Components: {string.Join(", ", _components.Keys.Order())}.");
        if (!Directory.Exists(dir))
            throw new AccelAesException($"Model folder '{Root}': model_index.json lists '{name}', but the subfolder '{dir}' is missing.");
        return ComponentFolder.Open(dir, _components.GetValueOrDefault(name));
    }

    /// <summary>
    /// Whether model_index.json lists <paramref name="name"/> with a library and class. A listed component is part of
    /// the pipeline even when its folder is missing — diffusers' from_pretrained fails then, and so does
    /// <see cref="Component"/>, naming the folder — rather than being silently left out; only a [null, null] entry
    /// (or none) marks an optional component absent.
    /// </summary>
    public bool HasComponent(string name) => !IsSingleComponent && _components.ContainsKey(name);

    private static ModelFolder ParseIndex(string root, string indexPath)
    {
        var config = JsonConfig.Load(indexPath);
        var components = new Dictionary<string, ComponentEntry>();
        foreach (var p in config.Fields)
        {
            if (p.Name.StartsWith('_')) continue;
            // Components are ["library", "Class"]; [null, null] marks an absent optional component.
            if (p.Value.ValueKind == JsonValueKind.Array && p.Value.GetArrayLength() == 2
                && p.Value[0].ValueKind == JsonValueKind.String && p.Value[1].ValueKind == JsonValueKind.String)
            {
                // The name is a subfolder: a hostile index must not point outside the model folder ("../x", "/etc").
                if (!PathRules.IsPlainName(p.Name))
                    throw new ConfigException(indexPath, p.Name, "names a component, but a component must be a folder name inside the model folder.");
                components[p.Name] = new ComponentEntry(p.Name, p.Value[0].GetString()!, p.Value[1].GetString()!);
            }
        }
        return new ModelFolder(root, config.ClassName ?? "(unnamed pipeline)", components);
    }
}

/// <summary>One entry of model_index.json: component name, library ("diffusers", "transformers") and class.</summary>
public sealed record ComponentEntry(string Name, string Library, string ClassName);
