using System.Text.Json;

namespace AccelAes.Loader.Diffusers;

/// <summary>
/// A diffusers pipeline folder (<c>model_index.json</c> + one subfolder per component) or a single
/// component folder (a <c>config.json</c> beside its weights).
/// </summary>
public sealed class ModelFolder
{
    private readonly Dictionary<string, ComponentEntry> _components;

    private ModelFolder(string root, string? pipelineClass, Dictionary<string, ComponentEntry> components)
    {
        Root = root;
        PipelineClass = pipelineClass;
        _components = components;
    }

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
        string root = System.IO.Path.GetFullPath(path);
        if (!Directory.Exists(root))
            throw new AccelAesException($"Model folder '{root}' does not exist.");
        string index = System.IO.Path.Combine(root, "model_index.json");
        if (File.Exists(index))
            return ParseIndex(root, index);
        if (File.Exists(System.IO.Path.Combine(root, "config.json")))
            return new ModelFolder(root, null, new Dictionary<string, ComponentEntry>());
        throw new AccelAesException($"'{root}' is not a diffusers model folder: it has neither model_index.json nor config.json.");
    }

    /// <summary>
    /// The component folder <paramref name="name"/> ("transformer", "vae", "text_encoder", ...). For a single
    /// component folder, the folder itself is returned whatever the name.
    /// </summary>
    public ComponentFolder Component(string name)
    {
        if (IsSingleComponent) return ComponentFolder.Open(Root, null);
        string dir = System.IO.Path.Combine(Root, name);
        if (!_components.ContainsKey(name) && !Directory.Exists(dir))
            throw new AccelAesException(
                $"Model folder '{Root}' has no component '{name}'. Components: {string.Join(", ", _components.Keys.Order())}.");
        if (!Directory.Exists(dir))
            throw new AccelAesException($"Model folder '{Root}': model_index.json lists '{name}', but the subfolder '{dir}' is missing.");
        return ComponentFolder.Open(dir, _components.GetValueOrDefault(name));
    }

    public bool HasComponent(string name) => IsSingleComponent
        ? false
        : _components.ContainsKey(name) && Directory.Exists(System.IO.Path.Combine(Root, name));

    private static ModelFolder ParseIndex(string root, string indexPath)
    {
        var config = JsonConfig.Load(indexPath);
        var components = new Dictionary<string, ComponentEntry>();
        using var doc = JsonDocument.Parse(File.ReadAllText(indexPath));
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name.StartsWith('_')) continue;
            // Components are ["library", "Class"]; [null, null] marks an absent optional component.
            if (p.Value.ValueKind == JsonValueKind.Array && p.Value.GetArrayLength() == 2
                && p.Value[0].ValueKind == JsonValueKind.String && p.Value[1].ValueKind == JsonValueKind.String)
                components[p.Name] = new ComponentEntry(p.Name, p.Value[0].GetString()!, p.Value[1].GetString()!);
        }
        return new ModelFolder(root, config.ClassName ?? "(unnamed pipeline)", components);
    }
}

/// <summary>One entry of model_index.json: component name, library ("diffusers", "transformers") and class.</summary>
public sealed record ComponentEntry(string Name, string Library, string ClassName);
