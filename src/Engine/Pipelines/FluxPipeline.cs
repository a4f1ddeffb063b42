using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Components;
using AccelAes.Engine.Models.Flux;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Pipelines;

/// <summary>
/// <c>FluxPipeline</c>'s denoising conventions (FLUX.1-dev / -schnell text-to-image) on packed latents:
/// explicit sigmas <c>linspace(1, 1/N, N)</c> with μ = calculate_shift(packed token count) from the scheduler
/// config (architectures.md §0.10), distilled guidance embedded when the transformer has a guidance embedder,
/// no CFG unless <see cref="TrueCfgScale"/> &gt; 1 (then a negative pass: v_neg + s·(v_pos − v_neg)).
/// Latents stay packed [B, (H/16)·(W/16), 4·C] throughout; <see cref="FluxLatentPacking"/> converts.
/// <see cref="DenoiseSettings.GuidanceScale"/> is diffusers' <c>guidance_scale</c>: the value embedded by a
/// guidance-distilled transformer (3.5 for FLUX.1-dev), ignored by one without a guidance embedder (schnell).
/// <see cref="DenoiseSettings.Height"/> and <see cref="DenoiseSettings.Width"/> are required: they fix the image ids.
/// With <see cref="DenoiseSettings.Acceleration"/> the loop is AccelAes's (one prompt at a time): AesMask over the
/// packed token grid from the double-stream blocks, SkipSparse in every block, StepCache; no spatial CFG. With the
/// teacache, fbcache, fora and taylorseer presets the loop is the caching policy's (<see cref="CachePolicies"/>), any batch size.
/// </summary>
public sealed class FluxPipeline(FluxTransformer2DModel transformer) : IDenoisePipeline
{
    /// <summary>FLUX's VAE downsamples by 8 (2 ** (len(block_out_channels) − 1)); packing halves again.</summary>
    public const int VaeScaleFactor = 8;

    // FluxPipeline's calculate_shift arguments when the scheduler config does not set them.
    private const int DefaultBaseImageSeqLen = 256, DefaultMaxImageSeqLen = 4096;
    private const double DefaultBaseShift = 0.5, DefaultMaxShift = 1.15;

    public string PipelineClass => "FluxPipeline";

    public FluxTransformer2DModel Transformer { get; } = transformer;

    /// <summary>
    /// diffusers' <c>true_cfg_scale</c>: real classifier-free guidance with a negative prompt, on when &gt; 1
    /// (then <c>negative_prompt_embeds</c> and <c>negative_pooled_prompt_embeds</c> are required). Default 1: off,
    /// as FLUX.1 is guidance-distilled and samples with one forward per step.
    /// </summary>
    public float TrueCfgScale { get; init; } = 1f;

    // Latents first: they fix the batch B (one image per latent), and each prompt tensor is checked against them.
    public IReadOnlyList<ForwardInput> Inputs { get; } =
    [
        new("latents", true, "initial noise, packed [B, (H/16)·(W/16), in_channels], one per prompt", $"[B, N, {transformer.Config.InChannels}]"),
        new("prompt_embeds", true, "T5 embeddings [B, L, joint_attention_dim]", $"[B, L, {transformer.Config.JointAttentionDim}]"),
        new("pooled_prompt_embeds", true, "pooled CLIP embeddings [B, pooled_projection_dim]", $"[B, {transformer.Config.PooledProjectionDim}]"),
        // Their sequence length is checked only where true CFG uses them (NegativeConditioning).
        new("negative_prompt_embeds", false, "[B, L, joint_attention_dim]; used only with true_cfg_scale > 1",
            $"[B, *, {transformer.Config.JointAttentionDim}]"),
        new("negative_pooled_prompt_embeds", false, "[B, pooled_projection_dim]; used only with true_cfg_scale > 1",
            $"[B, {transformer.Config.PooledProjectionDim}]"),
    ];

    public Tensor Denoise(IReadOnlyDictionary<string, Tensor> inputs, DenoiseSettings settings, Action<int, Tensor>? onStep = null)
    {
        inputs = ForwardInputs.Bind(PipelineClass, Inputs, inputs);
        CheckTransformer();
        var (gridHeight, gridWidth) = TokenGrid(settings);
        Tensor initial = inputs["latents"];
        Tensor prompt = inputs["prompt_embeds"], pooled = inputs["pooled_prompt_embeds"];
        CheckShapes(initial, prompt, pooled, gridHeight, gridWidth, settings);

        SigmaSchedule schedule = Schedule(settings.Steps, gridHeight * gridWidth, settings.Scheduler);
        var conditioning = new FluxConditioning(prompt, pooled,
            inputs.GetValueOrDefault("negative_prompt_embeds"), inputs.GetValueOrDefault("negative_pooled_prompt_embeds"));
        using var denoiser = new FluxDenoiser(Transformer, conditioning, gridHeight, gridWidth, settings.GuidanceScale, TrueCfgScale, settings.GuidanceMode);
        Tensor latents = initial.Backend.Scale(initial, 1f); // a private copy: the loop updates in place
        if (settings.ResolvedAcceleration is { UsesCachePolicy: true } cached)
        {
            // A caching policy decides per step for the batch as a whole (the official rules), so it takes any batch size.
            ICachePolicy policy = CachePolicies.For(cached.Validated(), schedule.Steps)!;
            DenoiseLoop.Run(latents, schedule, new CachePolicyPredictor(denoiser, policy), onStep);
            settings.OnAccelerationReport?.Invoke(policy.Report(schedule));
        }
        else if (settings.ResolvedAcceleration is { } acceleration)
        {
            if (initial.Shape[0] != 1)
                throw new AccelAesException($"Accelerated sampling builds one focus mask, so it takes one prompt at a time; latents {initial.Shape} hold {initial.Shape[0]}.");
            // Tokens are 2×2 latent patches: the mask lives on the packed token grid, guidance maps (none on FLUX) on
            // the latent grid; AesMask captures in the double-stream blocks.
            var geometry = new AccelerationGeometry(gridHeight, gridWidth, FluxLatentPacking.PatchSize * gridHeight,
                FluxLatentPacking.PatchSize * gridWidth, Transformer.DoubleBlockCount);
            int textTokens = prompt.Shape[1];
            float[] weights = settings.TextWeights ?? PromptWeights.Uniform(textTokens);
            if (weights.Length != textTokens)
                throw new AccelAesException($"AesMask's text weights cover {weights.Length} tokens, but prompt_embeds {prompt.Shape} hold {textTokens} text tokens.");
            var report = AcceleratedSampling.Run(latents, schedule, acceleration, geometry, denoiser, weights, onStep);
            settings.OnAccelerationReport?.Invoke(report);
        }
        else
        {
            DenoiseLoop.Run(latents, schedule, denoiser, onStep);
        }
        return latents;
    }

    /// <summary>
    /// The pipeline's schedule: <c>set_timesteps(sigmas=linspace(1, 1/N, N), mu=calculate_shift(image_seq_len, …))</c>.
    /// μ is always passed; a scheduler without dynamic shifting ignores it and applies its static shift (schnell: 1).
    /// </summary>
    /// <param name="imageSeqLen">Packed image tokens (latents.shape[1]).</param>
    public static SigmaSchedule Schedule(int steps, int imageSeqLen, FlowMatchEulerSchedulerConfig scheduler)
    {
        if (steps <= 0) throw new AccelAesException($"The number of steps must be positive, got {steps}.");
        double[] sigmas = FlowMatchEulerScheduler.Linspace(1.0, 1.0 / steps, steps);
        double mu = FlowMatchEulerScheduler.CalculateShift(imageSeqLen,
            scheduler.BaseImageSeqLen,
            scheduler.MaxImageSeqLen,
            scheduler.HasBaseShift ? scheduler.BaseShift : DefaultBaseShift,
            scheduler.HasMaxShift ? scheduler.MaxShift : DefaultMaxShift);
        return new FlowMatchEulerScheduler(scheduler).SetTimesteps(steps, sigmas, mu);
    }

    /// <summary>The packed token grid for the requested image size (height and width are required: they fix the image ids).</summary>
    private static (int Height, int Width) TokenGrid(DenoiseSettings settings)
    {
        if (settings.Height is not int height || settings.Width is not int width)
            throw new AccelAesException("FluxPipeline needs the image height and width in pixels: packed latents do not record their grid.");
        var grid = FluxLatentPacking.TokenGrid(height, width);
        if (grid.Height <= 0 || grid.Width <= 0)
            throw new AccelAesException(
                $"An image of {height}×{width} pixels is smaller than one packed FLUX token ({2 * VaeScaleFactor}×{2 * VaeScaleFactor} pixels).");
        return grid;
    }

    /// <summary>The Euler step adds the output to the latents, so the output token must be the input token.</summary>
    private void CheckTransformer()
    {
        var c = Transformer.Config;
        if (c.OutputTokenWidth != c.InChannels)
            throw new AccelAesException(
                $"FluxPipeline needs a transformer whose output tokens match its input tokens; this one maps {c.InChannels} to " +
                $"{c.OutputTokenWidth} features (patch_size {c.PatchSize}, out_channels {c.OutChannels}).");
        if (c.InChannels % 4 != 0)
            throw new AccelAesException($"FluxPipeline packs 2×2 latent patches, so in_channels must be a multiple of 4; got {c.InChannels}.");
        if (Transformer.PosEmbed.Axes != 3)
            throw new AccelAesException(
                $"FluxPipeline builds 3-axis position ids (0, row, column); axes_dims_rope has {Transformer.PosEmbed.Axes} entries.");
    }

    private void CheckShapes(Tensor latents, Tensor prompt, Tensor pooled, int gridHeight, int gridWidth, DenoiseSettings settings)
    {
        var c = Transformer.Config;
        int tokens = gridHeight * gridWidth;
        if (latents.Shape.Rank != 3 || latents.Shape[1] != tokens || latents.Shape[2] != c.InChannels)
            throw new AccelAesException(
                $"latents {latents.Shape} must be packed [B, {tokens}, {c.InChannels}] for a {settings.Height}×{settings.Width} image " +
                $"({gridHeight}×{gridWidth} tokens of 2×2 latent patches).");
        int batch = latents.Shape[0];
        if (prompt.Shape.Rank != 3 || prompt.Shape[0] != batch || prompt.Shape[2] != c.JointAttentionDim)
            throw new AccelAesException($"prompt_embeds {prompt.Shape} must be [{batch}, L, {c.JointAttentionDim}] (one row per latent).");
        if (pooled.Shape.Rank != 2 || pooled.Shape[0] != batch || pooled.Shape[1] != c.PooledProjectionDim)
            throw new AccelAesException($"pooled_prompt_embeds {pooled.Shape} must be [{batch}, {c.PooledProjectionDim}].");
    }
}
