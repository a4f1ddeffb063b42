using System.Diagnostics;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Engine.Pipelines.Generation;

/// <summary>Pieces every text-to-image pipeline shares: size checks, tokenizing with warnings, noise, timing.</summary>
internal static class GenerationSupport
{
    public static (int Width, int Height) ResolveSize(GenerationRequest request, ITextToImagePipeline pipeline)
    {
        int width = request.Width ?? pipeline.DefaultWidth, height = request.Height ?? pipeline.DefaultHeight;
        int unit = pipeline.SizeMultiple;
        if (width <= 0 || height <= 0 || width % unit != 0 || height % unit != 0)
            throw new AccelAesException(
                $"{pipeline.PipelineClass} needs a width and height that are positive multiples of {unit}; got {width}×{height}.");
        return (width, height);
    }

    public static int ResolveSteps(GenerationRequest request, ITextToImagePipeline pipeline)
    {
        int steps = request.Steps ?? pipeline.DefaultSteps;
        if (steps <= 0) throw new AccelAesException($"The number of steps must be positive, got {steps}.");
        return steps;
    }

    /// <summary>Tokenizes one prompt, recording a warning (shown by the CLI) when it was cut to the encoder's limit.</summary>
    public static TokenGrid Tokenize(IPromptTokenizer tokenizer, string prompt, TokenizerCall call, string component, List<string> warnings)
    {
        TokenizedPrompt t = tokenizer.Encode(prompt, call);
        if (t.Truncated)
            warnings.Add($"The prompt is longer than {component} takes: {t.DroppedTokenCount} of its tokens were dropped.");
        return TokenGrid.FromRows([t.InputIds], "input_ids");
    }

    /// <summary>Initial latents N(0, 1) from the engine's seeded generator (<see cref="GaussianNoise"/>).</summary>
    public static Tensor InitialNoise(IBackend backend, ulong seed, Shape shape)
        => backend.Upload(GaussianNoise.Create(shape.ElementCount, seed), shape);

    /// <summary>Times a phase into <paramref name="timings"/>.</summary>
    public static T Timed<T>(List<PhaseTiming> timings, string phase, Func<T> work)
    {
        var watch = Stopwatch.StartNew();
        T result = work();
        timings.Add(new PhaseTiming(phase, watch.Elapsed));
        return result;
    }
}
