using System.Diagnostics;
using AccelAes.Engine.Components;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Engine.Pipelines.Generation;

/// <summary>Pieces every text-to-image pipeline shares: tokenizing with warnings, component loading, noise, timing.</summary>
internal static class GenerationSupport
{
    /// <summary>
    /// Tokenizes one prompt, recording a warning (shown by the CLI) when it was cut to the encoder's limit;
    /// <paramref name="role"/> ("prompt", "negative prompt") says which of the run's texts it was.
    /// </summary>
    public static TokenGrid Tokenize(IPromptTokenizer tokenizer, string prompt, TokenizerCall call, string component, PromptRole role, List<string> warnings)
    {
        TokenizedPrompt t = tokenizer.Encode(prompt, call);
        if (t.Truncated)
            warnings.Add($"The {Describe(role)} is longer than {component} takes: {t.DroppedTokenCount} of its tokens were dropped.");
        return TokenGrid.FromRows([t.InputIds], "input_ids");
    }

    /// <summary>Tokenizes one prompt with a pipeline's call for one of its tokenizers (see <see cref="PipelineTokenizerCalls"/>).</summary>
    public static TokenGrid Tokenize(IPromptTokenizer tokenizer, string prompt, PipelineTokenizerCall call, PromptRole role, List<string> warnings)
        => Tokenize(tokenizer, prompt, call.Call, call.Label, role, warnings);

    private static string Describe(PromptRole role) => role == PromptRole.Negative ? "negative prompt" : "prompt";

    /// <summary>Loads a pipeline component and checks it is the model class the pipeline uses there.</summary>
    /// <param name="streamBlocks">The transformer's block weights go into this stream (<c>--offload sequential</c>), or null.</param>
    public static T Load<T>(ModelFolder folder, string component, IBackend backend, string? variant,
        WeightPrecision weights = WeightPrecision.AsStored, Backends.Cuda.BlockWeightStream? streamBlocks = null) where T : class, IComponentForward
    {
        LoadedComponent loaded = ComponentLoader.Load(folder.Component(component), backend, variant, weights, streamBlocks);
        return loaded.Forward as T ?? throw new AccelAesException(
            $"{folder.Root}: component '{component}' is a {loaded.Forward.ClassName}, which this pipeline cannot use there.");
    }

    /// <summary>Loads the tokenizer in the pipeline's <paramref name="component"/> folder, naming the component when it is missing.</summary>
    public static IPromptTokenizer LoadTokenizer(ModelFolder folder, string component)
    {
        string dir = Path.Combine(folder.Root, component);
        if (!Directory.Exists(dir))
            throw new AccelAesException($"Model folder '{folder.Root}' has no component '{component}' (its tokenizer folder '{dir}' is missing).");
        return TokenizerFactory.FromFolder(dir);
    }

    /// <summary>diffusers' <c>2 ** (len(vae.config.block_out_channels) − 1)</c>.</summary>
    public static int VaeScaleFactor(AutoencoderKLConfig vae) => 1 << (vae.BlockOutChannels.Length - 1);

    /// <summary>Initial latents N(0, 1) from the engine's seeded generator (<see cref="GaussianNoise"/>).</summary>
    public static Tensor InitialNoise(IBackend backend, ulong seed, Shape shape)
        => backend.Upload(GaussianNoise.Create(shape.ElementCount, seed), shape);

    /// <summary>Times a phase into <paramref name="timings"/>.</summary>
    public static T Timed<T>(IBackend backend, List<PhaseTiming> timings, string phase, Func<T> work)
    {
        using var range = backend.Range(phase); // the phase on the profiler's timeline too (NVTX on CUDA)
        var watch = Stopwatch.StartNew();
        T result = work();
        timings.Add(new PhaseTiming(phase, watch.Elapsed));
        return result;
    }
}

/// <summary>Which of a run's texts is being encoded, so warnings name the one the user must shorten.</summary>
internal enum PromptRole
{
    Positive,
    Negative,
}

/// <summary>
/// A generation up to the denoised latents, in the pipeline's own layout (FLUX: packed), with what the result
/// reports. The pipelines decode it; tests compare it with an independently assembled run.
/// </summary>
internal sealed record DenoisedLatents(Tensor Latents, int Width, int Height, int Steps, float GuidanceScale,
    List<PhaseTiming> Timings, List<string> Warnings)
{
    /// <summary>What the accelerated sampler did (null for dense sampling).</summary>
    public Acceleration.Runtime.AcceleratedRunReport? Acceleration { get; init; }

    /// <summary>AesMask's word scores per encoder (null when no mask was built).</summary>
    public IReadOnlyList<Acceleration.Runtime.EncoderWordScores>? WordScores { get; init; }
}
