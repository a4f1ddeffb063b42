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
        if (width % unit != 0 || height % unit != 0)
            throw new AccelAesException(
                $"{pipeline.PipelineClass} needs a width and height ({names.Width}, {names.Height}) that are multiples of {unit}; got {width}×{height}.");
        if (width > limit.Pixels || height > limit.Pixels)
            throw new AccelAesException(
                $"{pipeline.PipelineClass}: {width}×{height} is larger than this model can generate; the largest side is {limit.Pixels} pixels ({limit.Reason}).");
        if (request.TrueCfgScale is not null && pipeline.PipelineClass != "FluxPipeline")
            throw new AccelAesException($"{names.TrueCfgScale} is a FluxPipeline setting; {pipeline.PipelineClass} guides with {names.Guidance}.");

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
}
