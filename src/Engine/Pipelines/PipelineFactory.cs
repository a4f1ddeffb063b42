using AccelAes.Engine.Components;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.Files;

namespace AccelAes.Engine.Pipelines;

/// <summary>The denoising pipeline of a model folder, with the scheduler config it samples with.</summary>
public sealed record DenoisingSetup(IDenoisePipeline Pipeline, FlowMatchEulerSchedulerConfig Scheduler, string SchedulerSource, LoadedComponent Transformer);

/// <summary>
/// Picks the pipeline for a model folder from its transformer class, and the scheduler config: an explicit file,
/// else the folder's own <c>scheduler/scheduler_config.json</c>, else the architecture's published default.
/// </summary>
public static class PipelineFactory
{
    public static DenoisingSetup Open(ModelFolder folder, IBackend backend, string? variant = null, string? schedulerFile = null,
        WeightPrecision weights = WeightPrecision.AsStored)
    {
        var transformer = ComponentLoader.Load(folder.Component("transformer"), backend, variant, weights);
        var (scheduler, source) = SchedulerOf(folder, transformer.Forward.ClassName, schedulerFile);
        return new DenoisingSetup(PipelineOf(transformer), scheduler, source, transformer);
    }

    /// <summary>
    /// The denoising pipeline of a single-file transformer checkpoint (<see cref="ComponentLoader.LoadSingleFile"/>).
    /// The file carries no scheduler: an explicit file, else the published one of the model the file is — FLUX.1-schnell's
    /// unshifted one for a FLUX transformer without a guidance embedder, FLUX.1-dev's otherwise.
    /// </summary>
    public static DenoisingSetup OpenSingleFile(string path, IBackend backend, string? configFolder = null, string? schedulerFile = null,
        WeightPrecision weights = WeightPrecision.AsStored)
    {
        var transformer = ComponentLoader.LoadSingleFile(path, backend, configFolder, weights);
        string cls = transformer.Forward.ClassName;
        var (scheduler, source) = schedulerFile is not null
            ? (FlowMatchEulerSchedulerConfig.From(JsonConfig.Load(schedulerFile)), schedulerFile)
            : transformer.Forward is FluxTransformerComponent { Model.Config.GuidanceEmbeds: false }
                ? (SchnellScheduler, "FLUX.1-schnell's published scheduler (the file has no guidance embedder)")
                : (DefaultScheduler(cls), $"the default {cls} scheduler");
        return new DenoisingSetup(PipelineOf(transformer), scheduler, source, transformer);
    }

    /// <summary>
    /// FLUX.1-schnell's scheduler_config.json: a static shift of 1, no dynamic shifting (its base_shift / max_shift keys
    /// are present but unused). One definition for the single-file loader and the model-name table.
    /// </summary>
    public static FlowMatchEulerSchedulerConfig SchnellScheduler { get; } = new()
    {
        Shift = 1.0, UseDynamicShifting = false, HasBaseShift = true, HasMaxShift = true,
    };

    private static IDenoisePipeline PipelineOf(LoadedComponent transformer) => transformer.Forward switch
    {
        Sd3TransformerComponent sd3 => new Sd3Pipeline(sd3.Model),
        LuminaTransformerComponent lumina => new LuminaPipeline(lumina.Model),
        FluxTransformerComponent flux => new FluxPipeline(flux.Model),
        _ => throw new AccelAesException($"No denoising pipeline for {transformer.Forward.ClassName}."),
    };

    /// <summary>The scheduler config to sample with, and where it came from (for the CLI's report).</summary>
    public static (FlowMatchEulerSchedulerConfig Config, string Source) SchedulerOf(ModelFolder folder, string transformerClass, string? schedulerFile = null)
    {
        if (schedulerFile is not null)
            return (FlowMatchEulerSchedulerConfig.From(JsonConfig.Load(schedulerFile)), schedulerFile);
        string own = Path.Combine(folder.Root, "scheduler", "scheduler_config.json");
        if (!folder.IsSingleComponent && InputFile.Exists(own))
            return (FlowMatchEulerSchedulerConfig.From(JsonConfig.Load(own)), own);
        return (DefaultScheduler(transformerClass), $"the default {transformerClass} scheduler");
    }

    /// <summary>The scheduler configs of the published repos (architectures.md §1).</summary>
    public static FlowMatchEulerSchedulerConfig DefaultScheduler(string transformerClass) => transformerClass switch
    {
        Sd3TransformerConfig.ClassName => new FlowMatchEulerSchedulerConfig { Shift = 3.0 },
        // Lumina-Next-SFT's hub config is {num_train_timesteps: 1000, shift: 1.0} (architectures.md §1.3).
        LuminaNextDiTConfig.ClassName => new FlowMatchEulerSchedulerConfig { Shift = 1.0 },
        // FLUX.1-dev's (schnell folders carry their own: no shifting).
        FluxTransformerConfig.ClassName => new FlowMatchEulerSchedulerConfig { Shift = 3.0, UseDynamicShifting = true, HasBaseShift = true, HasMaxShift = true },
        _ => new FlowMatchEulerSchedulerConfig(),
    };
}
