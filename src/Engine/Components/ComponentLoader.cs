using AccelAes.Engine.Models.Clip;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Models.Flux;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Models.Vae;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.SingleFile;

namespace AccelAes.Engine.Components;

/// <summary>A component built on a backend, plus what loading noticed (tensors the config left unused).</summary>
public sealed record LoadedComponent(IComponentForward Forward, string Source, IReadOnlyList<string> UnusedTensors);

/// <summary>
/// Builds the model class a component's config names (<c>_class_name</c> / <c>architectures</c>) from its
/// checkpoint. Weights are copied onto the backend while loading, so the memory map is closed afterwards.
/// </summary>
public static class ComponentLoader
{
    /// <summary>Model classes <c>accelaes forward</c> can run.</summary>
    public static IReadOnlyList<string> SupportedClasses { get; } =
    [
        Sd3TransformerConfig.ClassName,
        FluxTransformerConfig.ClassName,
        LuminaNextDiTConfig.ClassName,
        AutoencoderKLConfig.ClassName,
        ClipTextConfig.TextModelClass,
        ClipTextConfig.WithProjectionClass,
        ClipVisionConfig.VisionModelClass,
        ClipVisionConfig.WithProjectionClass,
        ClipConfig.ModelClass,
        T5Config.EncoderModelClass,
        GemmaConfig.ModelClass,
        GemmaConfig.CausalLmClass,
    ];

    /// <param name="weights">Fp8: the Linear weights quantised at load (<see cref="Fp8QuantizedWeightSource"/>).</param>
    /// <param name="streamBlocks">A transformer's block weights go into this stream (<c>--offload sequential</c>, <see cref="StreamedBlockWeightSource"/>).</param>
    public static LoadedComponent Load(ComponentFolder folder, IBackend backend, string? variant = null, WeightPrecision weights = WeightPrecision.AsStored,
        Backends.Cuda.BlockWeightStream? streamBlocks = null)
    {
        if (folder.SingleFile is { } part)
            return LoadSingleFileComponent(part, backend, weights, streamBlocks);
        using var range = backend.Range($"load {System.IO.Path.GetFileName(folder.Path.TrimEnd('/', '\\'))}");
        string cls = folder.ClassName;
        if (!SupportedClasses.Contains(cls))
            throw new AccelAesException(
                $"{folder.Config.FilePath}: model class '{cls}' is not supported; supported: {string.Join(", ", SupportedClasses)}.");
        using var set = SafeTensorsSet.OpenComponent(folder.Path, folder.WeightsBaseName, variant);
        var source = WithPrecision(new SafeTensorsWeightSource(set, set.Source), weights);
        if (streamBlocks is not null) source = new StreamedBlockWeightSource(source, streamBlocks);
        return Build(cls, folder.Config, source, backend);
    }

    /// <summary>
    /// Builds component <paramref name="component"/> of a single-file checkpoint (BFL FLUX.1 layout, ComfyUI prefix,
    /// SAI SD3 / SD3.5 with its VAE and text encoders, fp8, scaled fp8; see <see cref="SingleFileCheckpoint"/>) with its
    /// inferred config, or the config.json in <paramref name="configFolder"/> (transformer) or <paramref name="componentsRoot"/>'s
    /// component folder. File keys no rule consumed are reported as unused.
    /// </summary>
    /// <param name="streamBlocks">As for <see cref="Load"/>: the transformer's block weights (named in diffusers' layout after
    /// conversion) go into this stream, so a single-file transformer is streamed under <c>--offload sequential</c> too.</param>
    public static LoadedComponent LoadSingleFile(string path, IBackend backend, string? configFolder = null, WeightPrecision weights = WeightPrecision.AsStored,
        string component = SingleFileCheckpoint.TransformerComponent, string? componentsRoot = null, Backends.Cuda.BlockWeightStream? streamBlocks = null)
        => LoadSingleFileComponent(new SingleFileComponent(path, component, configFolder, componentsRoot), backend, weights, streamBlocks);

    /// <summary>Builds a composed component whose weights are in a model file or a component file (<see cref="SingleFileCheckpoint.OpenFor"/>).</summary>
    public static LoadedComponent LoadSingleFileComponent(SingleFileComponent file, IBackend backend, WeightPrecision weights = WeightPrecision.AsStored,
        Backends.Cuda.BlockWeightStream? streamBlocks = null)
    {
        string component = file.Component;
        using var range = backend.Range($"load {System.IO.Path.GetFileName(file.FilePath)}");
        using var checkpoint = SingleFileCheckpoint.OpenFor(file);
        return LoadPart(checkpoint, component, backend, weights, streamBlocks);
    }

    /// <summary>Builds component <paramref name="component"/> of an open checkpoint (a model file, or a component file run on its own).</summary>
    public static LoadedComponent LoadPart(SingleFileCheckpoint checkpoint, string component, IBackend backend, WeightPrecision weights = WeightPrecision.AsStored,
        Backends.Cuda.BlockWeightStream? streamBlocks = null)
    {
        if (!checkpoint.Parts.TryGetValue(component, out var part))
            throw new AccelAesException(
                $"{checkpoint.Source} has no {component}; it holds {string.Join(", ", checkpoint.Parts.Keys)} ({checkpoint.Format.Describe()}).");
        var source = WithPrecision(new SingleFileWeightSource(checkpoint, part), weights);
        if (streamBlocks is not null) source = new StreamedBlockWeightSource(source, streamBlocks);
        var loaded = Build(part.ClassName, part.RequireConfig(checkpoint.Source), source, backend);
        return loaded with { UnusedTensors = [.. part.Unconsumed, .. loaded.UnusedTensors] };
    }

    /// <summary>The source as stored, or with its Linear weights quantised to fp8 at load.</summary>
    public static IWeightSource WithPrecision(IWeightSource source, WeightPrecision weights)
        => weights == WeightPrecision.Fp8 ? new Fp8QuantizedWeightSource(source) : source;

    /// <summary>Builds a component from any weight source (checkpoints, generated tiny weights).</summary>
    public static LoadedComponent Build(string cls, JsonConfig config, IWeightSource source, IBackend backend)
    {
        var reader = new WeightReader(source, backend);
        IComponentForward forward = cls switch
        {
            Sd3TransformerConfig.ClassName => new Sd3TransformerComponent(new Sd3Transformer2DModel(reader, Sd3TransformerConfig.From(config))),
            LuminaNextDiTConfig.ClassName => new LuminaTransformerComponent(new LuminaNextDiT2DModel(reader, LuminaNextDiTConfig.From(config))),
            FluxTransformerConfig.ClassName => new FluxTransformerComponent(new FluxTransformer2DModel(reader, FluxTransformerConfig.From(config))),
            AutoencoderKLConfig.ClassName => new AutoencoderKLComponent(new AutoencoderKL(reader, AutoencoderKLConfig.From(config))),
            ClipTextConfig.TextModelClass => new ClipTextComponent(new ClipTextModel(reader, ClipTextConfig.From(config))),
            ClipTextConfig.WithProjectionClass => new ClipTextComponent(new ClipTextModelWithProjection(reader, ClipTextConfig.From(config))),
            ClipVisionConfig.VisionModelClass => new ClipVisionComponent(new ClipVisionModel(reader, ClipVisionConfig.From(config))),
            ClipVisionConfig.WithProjectionClass => new ClipVisionComponent(new ClipVisionModelWithProjection(reader, ClipVisionConfig.From(config))),
            ClipConfig.ModelClass => new ClipModelComponent(new ClipModel(reader, ClipConfig.From(config))),
            T5Config.EncoderModelClass => new T5EncoderComponent(new T5EncoderModel(reader, T5Config.From(config))),
            GemmaConfig.ModelClass or GemmaConfig.CausalLmClass =>
                new GemmaComponent(new GemmaModel(GemmaModel.ModelScope(reader), GemmaConfig.From(config)), cls),
            _ => throw new AccelAesException($"Model class '{cls}' is not supported; supported: {string.Join(", ", SupportedClasses)}."),
        };
        IReadOnlyList<string> unused = reader.UnusedTensors();
        // The VAE is decode-only: its encoder tensors are expected leftovers, not a config mismatch.
        if (forward is AutoencoderKLComponent) unused = AutoencoderKLComponent.UnexpectedUnused(unused);
        return new LoadedComponent(forward, source.Description, unused);
    }
}
