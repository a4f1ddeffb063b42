using AccelAes.Engine.Acceleration;
using AccelAes.Loader.Validation;

namespace AccelAes.Engine.Pipelines.Generation;

/// <summary>A request's settings with the pipeline's defaults filled in, all checked.</summary>
public sealed record ResolvedGeneration(int Width, int Height, int Steps, float GuidanceScale, AccelerationOptions? Acceleration)
{
    /// <summary>
    /// What the user should know about how the settings combine, as sentences: a preset component the step count,
    /// guidance or image size turned off; a guidance scale that spatial CFG overrides from the mask step on. Runs
    /// report them as warnings.
    /// </summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
}

/// <summary>
/// The one validation of a <see cref="GenerationRequest"/> (DESIGN.md §7): the CLI, the C ABI and the pipelines
/// themselves call it, so they accept and refuse exactly the same requests, with messages that name the setting as
/// the caller spells it (<see cref="GenerationFieldNames"/>). Everything is checked before any work: a request that
/// passes here fails later only for reasons no check can foresee (memory, non-finite values mid-run).
/// </summary>
public static class GenerationRequestValidation
{
    /// <summary>The largest true-CFG scale accepted (the same bound as guidance).</summary>
    private const float MaxTrueCfgScale = InputLimits.MaxGuidanceScale;

    /// <summary>
    /// The checks that need no model: counts, sizes and scales within <see cref="InputLimits"/>, finite. The CLI runs
    /// these before anything loads.
    /// </summary>
    public static void CheckSettings(GenerationRequest request, GenerationFieldNames names)
    {
        if (request.Steps is int steps) ValueChecks.Count(steps, names.Steps, 1, InputLimits.MaxSteps);
        if (request.GuidanceScale is float guidance) ValueChecks.Finite(guidance, names.Guidance, 0, InputLimits.MaxGuidanceScale);
        if (request.TrueCfgScale is float trueCfg) ValueChecks.Finite(trueCfg, names.TrueCfgScale, 0, MaxTrueCfgScale);
        if (request.Width is int width) ValueChecks.Count(width, names.Width, 1, InputLimits.MaxImageSide);
        if (request.Height is int height) ValueChecks.Count(height, names.Height, 1, InputLimits.MaxImageSide);
    }

    /// <summary>
    /// The checks a model's configs allow before any weight loads (DESIGN §5: a request is validated whole before any
    /// model loads): <see cref="CheckSettings"/>, the size unit, true CFG only for FLUX, and — for an accelerated request —
    /// every knob resolved for the model's backbone, the run's step count and guidance (the model's pipeline defaults
    /// where the request has none) and, when the request gives its size, the token grid the mask must fit.
    /// <see cref="Resolve"/> repeats all of it against the loaded pipeline.
    /// </summary>
    /// <param name="model">The model folder read for its configs (<see cref="Benchmarks.ModelArchitectures.FromFolder(string)"/>).</param>
    public static void CheckBeforeLoading(GenerationRequest request, Benchmarks.ModelArchitecture model, GenerationFieldNames names)
    {
        CheckSettings(request, names);
        int unit = model.PixelsPerToken;
        CheckSizeUnit(request.Width, request.Height, unit, model.Name, names);
        CheckTrueCfg(request, model.Backbone == Backbone.Flux, model.Name, names);
        if (request.Acceleration.IsNone) return;
        ImageTokenGrid? grid = request is { Width: int width, Height: int height } ? ImageTokenGrid.OfImage(width, height, unit) : null;
        request.Acceleration.Resolve(model.Backbone, request.Steps ?? model.Defaults.Steps, request.GuidanceScale ?? model.Defaults.GuidanceScale, grid);
    }

    /// <summary>
    /// Checks <paramref name="request"/> against <paramref name="pipeline"/> and fills in its defaults: the size a
    /// multiple of the pipeline's unit and within what its transformer can position (SD3's position table), true CFG
    /// only where the pipeline has it, and every acceleration knob resolved for the run's step count and guidance.
    /// </summary>
    public static ResolvedGeneration Resolve(GenerationRequest request, ITextToImagePipeline pipeline, GenerationFieldNames names)
    {
        CheckSettings(request, names);
        int width = request.Width ?? pipeline.DefaultWidth, height = request.Height ?? pipeline.DefaultHeight;
        int unit = pipeline.SizeMultiple;
        ImageSideLimit limit = pipeline.MaxImageSide;
        CheckSizeUnit(width, height, unit, pipeline.PipelineClass, names);
        if (width > limit.Pixels || height > limit.Pixels)
            throw new AccelAesException(
                $"{pipeline.PipelineClass}: {width}×{height} is larger than this model can generate; the largest side is {limit.Pixels} pixels ({limit.Reason}).");
        CheckTrueCfg(request, pipeline.PipelineClass == "FluxPipeline", pipeline.PipelineClass, names);

        int steps = request.Steps ?? pipeline.DefaultSteps;
        float guidance = request.GuidanceScale ?? pipeline.DefaultGuidanceScale;
        AccelerationOptions? acceleration = request.Acceleration.IsNone || PipelineBackbones.Of(pipeline.PipelineClass) is not { } backbone
            ? null
            : request.Acceleration.Resolve(backbone, steps, guidance, ImageTokenGrid.OfImage(width, height, unit));
        var notes = new List<string>();
        if (acceleration?.PresetNote is { } presetNote) notes.Add(presetNote);
        // A guidance scale the user typed that spatial CFG replaces from the mask step on is worth a sentence.
        if (request.GuidanceScale is not null && acceleration?.SpatialGuidanceNote is { } guidanceNote) notes.Add(guidanceNote);
        return new ResolvedGeneration(width, height, steps, guidance, acceleration) { Notes = notes };
    }

    /// <summary>Width and height (null: the model's default, which fits) must be multiples of the model's pixels per token.</summary>
    private static void CheckSizeUnit(int? width, int? height, int unit, string model, GenerationFieldNames names)
    {
        if (width % unit is null or 0 && height % unit is null or 0) return;
        throw new AccelAesException(
            $"{model} needs a width and height ({names.Width}, {names.Height}) that are multiples of {unit}; got {width?.ToString() ?? "the default"}×{height?.ToString() ?? "the default"}.");
    }

    /// <summary>True CFG is FluxPipeline's setting; the other pipelines guide with the guidance scale.</summary>
    private static void CheckTrueCfg(GenerationRequest request, bool flux, string model, GenerationFieldNames names)
    {
        if (request.TrueCfgScale is not null && !flux)
            throw new AccelAesException($"{names.TrueCfgScale} is a FluxPipeline setting; {model} guides with {names.Guidance}.");
    }
}
