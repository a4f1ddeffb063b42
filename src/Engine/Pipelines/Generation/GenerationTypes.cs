using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Runtime;

namespace AccelAes.Engine.Pipelines.Generation;

/// <summary>What to generate. Null settings take the pipeline's published defaults (steps, guidance, size).</summary>
public sealed record GenerationRequest
{
    public required string Prompt { get; init; }
    /// <summary>The pipelines' default negative prompt is the empty string, encoded like any prompt (not zeros).</summary>
    public string NegativePrompt { get; init; } = "";
    public int? Steps { get; init; }
    public float? GuidanceScale { get; init; }
    public ulong Seed { get; init; }
    /// <summary>Image size in pixels; must be a multiple of the pipeline's size unit (16 for SD3, Lumina and FLUX).</summary>
    public int? Width { get; init; }
    public int? Height { get; init; }
    public GuidanceMode GuidanceMode { get; init; } = GuidanceMode.Batched;

    /// <summary>
    /// FLUX only: diffusers' <c>true_cfg_scale</c> (null = 1, off). Above 1 FLUX runs real classifier-free guidance
    /// against <see cref="NegativePrompt"/> (a second forward per step) on top of the embedded guidance. The other
    /// pipelines have no such setting and ignore it.
    /// </summary>
    public float? TrueCfgScale { get; init; }

    /// <summary>AccelAes preset and knob overrides (default: dense sampling).</summary>
    public AccelerationRequest Acceleration { get; init; } = AccelerationRequest.None;

    /// <summary>
    /// A CLIP ViT-L/14 text encoder folder AesMask scores prompt words with on Lumina-Next (SD3 and FLUX use their own
    /// text_encoder). Without one, Lumina's mask falls back (dense sampling with uniform guidance) and a warning says so.
    /// </summary>
    public string? AesMaskClip { get; init; }
}

/// <summary>The largest image side a pipeline can generate (<paramref name="Pixels"/>), and what sets it (<paramref name="Reason"/>).</summary>
public sealed record ImageSideLimit(int Pixels, string Reason)
{
    /// <summary>The engine-wide bound, for models with no limit of their own (rotary positions extend to any size).</summary>
    public static ImageSideLimit EngineWide { get; } =
        new(Loader.Validation.InputLimits.MaxImageSide, "the engine's bound on image sides; larger needs more memory than any single GPU has");
}

/// <summary>The phases a generation reports progress for, in order.</summary>
public enum GenerationPhase
{
    Encode,
    Denoise,
    Decode,
}

/// <summary>Progress of a generation: <paramref name="Done"/> of <paramref name="Total"/> units of <paramref name="Phase"/>.</summary>
public readonly record struct GenerationProgress(GenerationPhase Phase, int Done, int Total);

/// <summary>Time spent in one phase.</summary>
public sealed record PhaseTiming(string Phase, TimeSpan Elapsed);

/// <summary>An 8-bit RGB image, rows top to bottom, 3 bytes per pixel.</summary>
public sealed record RgbImage(int Width, int Height, byte[] Pixels);

/// <summary>The image and everything needed to reproduce and explain it.</summary>
public sealed record GenerationResult(RgbImage Image, GenerationRequest Request, int Steps, float GuidanceScale,
    IReadOnlyList<PhaseTiming> Timings, IReadOnlyList<string> Warnings)
{
    /// <summary>What the accelerated sampler did (null for dense sampling).</summary>
    public AcceleratedRunReport? Acceleration { get; init; }

    /// <summary>
    /// AesMask's word scores, one entry per scored text encoder (words, stop-word flags, anchor similarities, the
    /// selection rule's branch, per-position importance); null when the run built no mask.
    /// </summary>
    public IReadOnlyList<EncoderWordScores>? WordScores { get; init; }

    /// <summary>Pixels per token side (VAE scale × patch size), to draw the focus mask over the image.</summary>
    public int PixelsPerToken { get; init; }
}

/// <summary>A loaded text-to-image pipeline: prompt in, image out. Safe to call repeatedly; not thread-safe.</summary>
public interface ITextToImagePipeline
{
    /// <summary>The diffusers pipeline class reproduced (StableDiffusion3Pipeline, LuminaPipeline, FluxPipeline).</summary>
    string PipelineClass { get; }

    int DefaultSteps { get; }
    float DefaultGuidanceScale { get; }
    int DefaultWidth { get; }
    int DefaultHeight { get; }

    /// <summary>Width and height must be multiples of this (VAE scale factor × patch size).</summary>
    int SizeMultiple { get; }

    /// <summary>The largest width or height this model can generate, and why.</summary>
    ImageSideLimit MaxImageSide { get; }

    /// <summary>Time spent loading the components.</summary>
    TimeSpan LoadTime { get; }

    GenerationResult Generate(GenerationRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancel = default);
}
