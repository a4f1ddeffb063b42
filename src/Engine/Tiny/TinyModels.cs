using System.Text.Json;
using System.Text.Json.Nodes;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Components;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Tiny;

/// <summary>
/// Writes tiny random-weight model folders (<c>accelaes make-tiny</c>): the built-in demo model and test fixtures.
/// They are laid out exactly like the real diffusers repos, so every loading path is exercised.
/// </summary>
public static class TinyModels
{
    /// <summary>Architectures <c>make-tiny</c> knows, in display order.</summary>
    public static IReadOnlyList<TinyModelSpec> All { get; } =
    [
        TinySd3.Sd3,
        TinySd3.Sd35,
        TinyLumina.LuminaNext,
        TinyFlux.Flux,
        TinyFlux.FluxSchnell,
        TinyVae.Vae16,
        TinyVae.Vae4,
    ];

    /// <summary>
    /// The tiny layout <paramref name="arch"/>, or the one with the code paths of the model <paramref name="arch"/>
    /// names in the vocabulary every <c>--arch</c> takes (<see cref="ModelArchitectures"/>: flux-dev → flux, ...).
    /// </summary>
    public static TinyModelSpec Get(string arch)
        => All.FirstOrDefault(s => s.Arch == arch)
           ?? (ModelArchitectures.TryFind(arch)?.TinyLayout is { } layout ? Get(layout) : null)
           ?? throw new AccelAesException($"Unknown tiny architecture '{arch}'; known: {string.Join(", ", Names)}.");

    /// <summary>Every name <see cref="Get"/> takes: the tiny layouts, then the model names that map to one.</summary>
    public static IReadOnlyList<string> Names => [.. All.Select(s => s.Arch).Concat(ModelArchitectures.AllNames).Distinct()];

    /// <summary>
    /// Writes the pipeline folder for <paramref name="arch"/> into <paramref name="directory"/> (created or emptied of
    /// these files); for a spec without a pipeline class, the one component's folder itself.
    /// </summary>
    /// <param name="storeAs">F32 (default) or BF16 weights; BF16 files are named with the diffusers variant suffix.</param>
    public static void Write(string arch, string directory, int seed = 0, SafeTensorDType storeAs = SafeTensorDType.F32)
    {
        TinyModelSpec spec = Get(arch);
        Directory.CreateDirectory(directory);
        if (spec.PipelineClass is null)
        {
            WriteComponent(spec.Components.Single(), directory, seed, storeAs);
            return;
        }
        var index = new JsonObject
        {
            ["_class_name"] = spec.PipelineClass,
            ["_diffusers_version"] = "0.40.0.dev0",
        };
        foreach (var component in spec.Components)
        {
            index[component.Folder] = new JsonArray(component.Library, component.ClassName);
            WriteComponent(component, Path.Combine(directory, component.Folder), seed, storeAs);
        }
        foreach (var files in spec.FileFolders)
        {
            index[files.Folder] = new JsonArray(files.Library, files.ClassName);
            string folder = Path.Combine(directory, files.Folder);
            Directory.CreateDirectory(folder);
            files.Write(folder);
        }
        foreach (string absent in spec.AbsentComponents)
            index[absent] = new JsonArray(null, null);
        if (spec.SchedulerConfigJson is not null)
        {
            index["scheduler"] = new JsonArray("diffusers", "FlowMatchEulerDiscreteScheduler");
            string schedulerDir = Path.Combine(directory, "scheduler");
            Directory.CreateDirectory(schedulerDir);
            WriteText(Path.Combine(schedulerDir, "scheduler_config.json"), spec.SchedulerConfigJson);
        }
        WriteText(Path.Combine(directory, "model_index.json"), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Generates one component's weights in memory (for the built-in model, without touching disk).</summary>
    public static RandomWeightSource GenerateWeights(TinyComponentSpec component, int seed)
    {
        var config = JsonConfig.Parse($"<tiny {component.Folder} config>", component.ConfigJson);
        var source = new RandomWeightSource(seed + StableSeed(component.Folder));
        component.AddBuffers?.Invoke(source, config);
        ComponentLoader.Build(component.ClassName, config, source, new CpuBackend());
        return source;
    }

    private static void WriteComponent(TinyComponentSpec component, string dir, int seed, SafeTensorDType storeAs)
    {
        Directory.CreateDirectory(dir);
        RandomWeightSource weights = GenerateWeights(component, seed);
        var writer = new SafeTensorsWriter().AddMetadata("format", "pt");
        foreach (var (name, (shape, values)) in weights.Tensors)
            writer.Add(name, shape.Dims.ToArray().Select(d => (long)d).ToArray(), values, storeAs);
        string baseName = component.Library == "transformers" ? "model" : "diffusion_pytorch_model";
        string variant = storeAs == SafeTensorDType.BF16 ? ".bf16" : storeAs == SafeTensorDType.F16 ? ".fp16" : "";
        writer.Save(Path.Combine(dir, baseName + variant + ".safetensors"));
        WriteText(Path.Combine(dir, "config.json"), component.ConfigJson);
    }

    private static int StableSeed(string s)
    {
        int h = 17;
        foreach (char c in s) h = h * 31 + c;
        return h;
    }

    /// <summary>Writes through a temporary name and renames, so an interrupted run leaves no half-written file.</summary>
    private static void WriteText(string path, string text)
    {
        string tmp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }
}
