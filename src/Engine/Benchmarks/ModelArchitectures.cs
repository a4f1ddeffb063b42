using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Sampling;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.Files;

namespace AccelAes.Engine.Benchmarks;

/// <summary>
/// A model the engine knows by name (or a model folder read for its configs): its transformer configuration
/// (<see cref="Config"/>, which names its backbone), the pipeline defaults it samples with, its scheduler, and the pixels
/// one image token covers (VAE factor × patch side; FLUX packs 2×2 latent pixels per token).
/// </summary>
public sealed record ModelArchitecture(string Name, IReadOnlyList<string> Aliases, RealConfig Config, PipelineDefaults Defaults,
    FlowMatchEulerSchedulerConfig Scheduler, int PixelsPerToken = ModelArchitecture.PublishedPixelsPerToken)
{
    /// <summary>VAE factor 8 × 2×2 patches (SD3, Lumina-Next) or 2×2 packing (FLUX.1): every published model's.</summary>
    public const int PublishedPixelsPerToken = 16;

    public Backbone Backbone => Config.Backbone;

    public string Description => Config.Description;

    /// <summary>The <c>make-tiny</c> layout with this model's code paths (null for a model folder).</summary>
    public string? TinyLayout { get; init; }

    /// <summary>Image tokens of a <paramref name="width"/> × <paramref name="height"/> pixel image.</summary>
    public int ImageTokens(int width, int height) => width / PixelsPerToken * (height / PixelsPerToken);

    /// <summary>
    /// The σ schedule the model's pipeline samples <paramref name="steps"/> steps with: FluxPipeline passes μ from the
    /// image token count (a scheduler without dynamic shifting ignores it); the others set the scheduler's timesteps.
    /// </summary>
    public SigmaSchedule Sigmas(int steps, int imageTokens) => Backbone == Backbone.Flux
        ? FluxPipeline.Schedule(steps, imageTokens, Scheduler)
        : new FlowMatchEulerScheduler(Scheduler).SetTimesteps(steps);
}

/// <summary>
/// The one vocabulary of model names every <c>--arch</c> option takes (explain, bench): canonical names of the
/// published checkpoints, with the short aliases users type. Matching ignores case.
/// </summary>
public static class ModelArchitectures
{
    private static readonly FlowMatchEulerSchedulerConfig Sd3Scheduler = PipelineFactory.DefaultScheduler(Sd3TransformerConfig.ClassName);

    private static readonly FlowMatchEulerSchedulerConfig SchnellScheduler = PipelineFactory.SchnellScheduler;

    public static ModelArchitecture Sd3Medium { get; } = new("sd3-medium", ["sd3"], RealConfigs.Sd3Medium, PipelineDefaults.Sd3, Sd3Scheduler) { TinyLayout = "sd3" };

    public static ModelArchitecture Sd35Medium { get; } = new("sd3.5-medium", ["sd35-medium"], RealConfigs.Sd35Medium, PipelineDefaults.Sd3, Sd3Scheduler) { TinyLayout = "sd35" };

    public static ModelArchitecture Sd35Large { get; } = new("sd3.5-large", ["sd35-large"], RealConfigs.Sd35Large, PipelineDefaults.Sd3, Sd3Scheduler) { TinyLayout = "sd35" };

    public static ModelArchitecture FluxDev { get; } = new("flux-dev", ["flux"], RealConfigs.FluxDev, PipelineDefaults.FluxDev,
        PipelineFactory.DefaultScheduler(FluxTransformerConfig.ClassName)) { TinyLayout = "flux" };

    public static ModelArchitecture FluxSchnell { get; } = new("flux-schnell", [], RealConfigs.FluxSchnell, PipelineDefaults.FluxSchnell, SchnellScheduler) { TinyLayout = "flux-schnell" };

    public static ModelArchitecture LuminaNextSft { get; } = new("lumina-next-sft", ["lumina", "lumina-next"], RealConfigs.LuminaNextSft,
        PipelineDefaults.Lumina, PipelineFactory.DefaultScheduler(LuminaNextDiTConfig.ClassName)) { TinyLayout = "lumina-next" };

    public static IReadOnlyList<ModelArchitecture> All { get; } = [Sd3Medium, Sd35Medium, Sd35Large, FluxDev, FluxSchnell, LuminaNextSft];

    /// <summary>Every accepted name, canonical names first, as help texts and errors list them: "sd3-medium (sd3), ...".</summary>
    public static string NameList => string.Join(", ", All.Select(a => a.Aliases.Count == 0 ? a.Name : $"{a.Name} ({string.Join(", ", a.Aliases)})"));

    /// <summary>Every canonical name and alias.</summary>
    public static IEnumerable<string> AllNames => All.SelectMany(a => a.Aliases.Prepend(a.Name));

    /// <summary>The architecture named <paramref name="name"/> (a canonical name or an alias), or an error listing the names.</summary>
    public static ModelArchitecture Find(string name, string option = "--arch") =>
        TryFind(name) ?? throw new AccelAesException($"Unknown architecture '{name}' ({option}); choose one of: {NameList}.");

    /// <summary>The architecture named <paramref name="name"/>, or null.</summary>
    public static ModelArchitecture? TryFind(string name) =>
        All.FirstOrDefault(a => Matches(a.Name, name) || a.Aliases.Any(alias => Matches(alias, name)));

    private static bool Matches(string known, string name) => string.Equals(known, name, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The architecture of a model folder, from its configs only (no weights are opened): the backbone from
    /// model_index.json's pipeline class, the token geometry from the transformer and VAE configs, the scheduler and
    /// the pipeline defaults (FLUX.1-schnell's when the transformer and scheduler are schnell's). A transformer
    /// component folder (config.json only) is read as its class's published pipeline would use it.
    /// </summary>
    public static ModelArchitecture FromFolder(string dir) => FromFolder(ModelFolder.Open(dir));

    /// <summary>The architecture of <paramref name="folder"/> (also a single file composed with its components folder).</summary>
    public static ModelArchitecture FromFolder(ModelFolder folder)
    {
        ComponentFolder transformer = folder.Component("transformer");
        string name = Path.GetFileName(folder.Root.TrimEnd(Path.DirectorySeparatorChar));
        RealConfig config = RealConfigs.FromTransformerConfig(transformer.Config, transformer.Config.FilePath, name);
        if (folder.PipelineClass is { } pipelineClass && PipelineBackbones.Of(pipelineClass) is var backbone && backbone != config.Backbone)
            throw new AccelAesException(backbone is null
                ? $"Model folder '{folder.Root}' holds a {pipelineClass}; AccelAes accelerates StableDiffusion3Pipeline, FluxPipeline and LuminaPipeline."
                : $"Model folder '{folder.Root}': model_index.json names a {pipelineClass} ({backbone}), but transformer/config.json is a {transformer.ClassName}.");

        var (scheduler, _) = PipelineFactory.SchedulerOf(folder, transformer.ClassName);
        PipelineDefaults defaults = config.Backbone switch
        {
            Backbone.Sd3 => PipelineDefaults.Sd3,
            Backbone.Flux => PipelineDefaults.ForFlux(config.Flux!, scheduler),
            _ => PipelineDefaults.Lumina,
        };
        if (config.Backbone == Backbone.Flux) config = config with { TextTokens = defaults.MaxSequenceLength };
        string kind = defaults == PipelineDefaults.FluxSchnell ? "FLUX.1-schnell-like " : "";
        config = config with { Description = $"{kind}{transformer.ClassName}, {config.Layers} blocks, from {folder.Root}" };
        int patch = config.Sd3?.PatchSize ?? config.Lumina?.PatchSize ?? 2 * config.Flux!.PatchSize; // FLUX packs 2×2 latent pixels
        return new ModelArchitecture(name, [], config, defaults, scheduler, VaeFactor(folder) * patch);
    }

    /// <summary>2^(VAE blocks − 1) from vae/config.json, as the pipelines compute it; 8 when the folder has no VAE.</summary>
    private static int VaeFactor(ModelFolder folder)
    {
        if (folder.IsSingleComponent || (!folder.IsOverridden("vae") && !InputFile.Exists(Path.Combine(folder.Root, "vae", "config.json")))) return RealConfig.VaeFactor;
        return AutoencoderKLConfig.From(folder.Component("vae").Config).SpatialScale;
    }
}
