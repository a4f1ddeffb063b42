using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.Files;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Benchmarks;

/// <summary>
/// The transformer of a model folder for `accelaes bench --model DIR`: its config as a <see cref="RealConfig"/> (text
/// lengths of its pipeline) and its checkpoint as the weight source. Keeps the checkpoint open until disposed.
/// </summary>
public sealed class BenchModelFolder : IDisposable
{
    private readonly SafeTensorsSet _set;

    private BenchModelFolder(RealConfig config, int? defaultSteps, SafeTensorsSet set, string description)
    {
        Config = config;
        DefaultSteps = defaultSteps;
        _set = set;
        Weights = new SafeTensorsWeightSource(set, set.Source);
        Description = description;
    }

    public RealConfig Config { get; }

    /// <summary>The steps its pipeline samples by default (a pipeline folder: 4 for FLUX.1-schnell); null for a lone transformer folder.</summary>
    public int? DefaultSteps { get; }

    public IWeightSource Weights { get; }

    public string Description { get; }

    /// <summary>Opens <paramref name="dir"/>/transformer (a pipeline folder) or <paramref name="dir"/> itself (a component folder).</summary>
    public static BenchModelFolder Open(string dir)
    {
        string folder = InputFile.Exists(Path.Combine(dir, "transformer", "config.json")) ? Path.Combine(dir, "transformer") : dir;
        string configPath = Path.Combine(folder, "config.json");
        if (!InputFile.Exists(configPath))
            throw new AccelAesException($"{dir}: no transformer/config.json or config.json; --model needs a diffusers pipeline or transformer folder.");
        // A pipeline folder's scheduler and model card decide its text length (FLUX.1-schnell: 256 T5 tokens).
        bool pipeline = folder != dir && InputFile.Exists(Path.Combine(dir, "model_index.json"));
        ModelArchitecture? architecture = pipeline ? ModelArchitectures.FromFolder(dir) : null;
        RealConfig config = architecture?.Config ?? RealConfigs.FromTransformerConfig(JsonConfig.Load(configPath), configPath, Name(dir));
        var set = SafeTensorsSet.OpenComponent(folder, "diffusion_pytorch_model", null);
        return new BenchModelFolder(config, architecture?.Defaults.Steps, set, $"checkpoint {set.Source}");
    }

    /// <summary>
    /// The checkpoint's weights for <paramref name="config"/>, this folder's config possibly cut by
    /// <see cref="RealConfig.Truncated"/>: a cut SD3's last block is the checkpoint's last block, renamed into place.
    /// </summary>
    public IWeightSource WeightsFor(RealConfig config)
    {
        if (config.Sd3 is not { } cut || Config.Sd3 is not { } full || cut.NumLayers >= full.NumLayers) return Weights;
        string into = $"transformer_blocks.{cut.NumLayers - 1}.", from = $"transformer_blocks.{full.NumLayers - 1}.";
        return new RenamedWeightSource(Weights, name => name.StartsWith(into, StringComparison.Ordinal) ? from + name[into.Length..] : name,
            $"{Weights.Description} (block {full.NumLayers - 1} as block {cut.NumLayers - 1})");
    }

    private static string Name(string dir) => Path.GetFileName(Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar));

    public void Dispose() => _set.Dispose();
}
