using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Pipelines;

/// <summary>
/// Sampling settings shared by every pipeline, named as the diffusers pipelines name them.
/// <see cref="Height"/> and <see cref="Width"/> are in pixels (as the pipelines take them); they must agree
/// with the latents and feed resolution-dependent choices (FLUX's μ, Lumina's RoPE scaling).
/// </summary>
public sealed record DenoiseSettings
{
    public required int Steps { get; init; }
    public required float GuidanceScale { get; init; }
    public required FlowMatchEulerSchedulerConfig Scheduler { get; init; }
    public int? Height { get; init; }
    public int? Width { get; init; }
    public GuidanceMode GuidanceMode { get; init; } = GuidanceMode.Batched;

    /// <summary>AccelAes options (null: plain dense sampling). Their steps and guidance are taken from these settings.</summary>
    public AccelerationOptions? Acceleration { get; init; }

    /// <summary>AesMask's weights over the text keys (token importance); null: equal weights on every text key.</summary>
    public float[]? TextWeights { get; init; }

    /// <summary>Receives what an accelerated run did (schedule, mask, forwards run).</summary>
    public Action<AcceleratedRunReport>? OnAccelerationReport { get; init; }

    /// <summary>The acceleration options with steps and guidance taken from these settings.</summary>
    public AccelerationOptions? ResolvedAcceleration
        => Acceleration is null ? null : Acceleration with { Steps = Steps, GuidanceScale = GuidanceScale };
}

/// <summary>
/// A pipeline's denoising loop driven from precomputed conditioning (<c>accelaes denoise</c>): the inputs are
/// the pipeline's own argument names (<c>prompt_embeds</c>, <c>negative_prompt_embeds</c>, <c>latents</c>, …).
/// </summary>
public interface IDenoisePipeline
{
    /// <summary>The pipeline class this reproduces (e.g. StableDiffusion3Pipeline).</summary>
    string PipelineClass { get; }

    /// <summary>The pipeline arguments it accepts, named as in diffusers.</summary>
    IReadOnlyList<Components.ForwardInput> Inputs { get; }

    /// <summary>Runs the loop; <paramref name="onStep"/> receives the latents after each step, in the pipeline's layout.</summary>
    /// <returns>The final latents.</returns>
    Tensor Denoise(IReadOnlyDictionary<string, Tensor> inputs, DenoiseSettings settings, Action<int, Tensor>? onStep = null);
}
