using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Components;
using AccelAes.Engine.Models;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Pipelines;

/// <summary>
/// <c>LuminaPipeline</c> (formerly <c>LuminaText2ImgPipeline</c>, pipeline_lumina.py) denoising from encoded prompts:
/// <c>set_timesteps(N)</c> with no explicit sigmas and no μ (Lumina-Next-SFT's scheduler: shift 1, no dynamic
/// shifting, so σ = linspace(1, 1/T, N)), then the loop of <see cref="LuminaDenoiser"/> (model time 1 − σ,
/// [cond, uncond], guidance on 3 of 4 channels, negated output) and the scheduler's Euler step.
/// Height and width in pixels are the latent size ×8; diffusers requires them divisible by 16, i.e. an even latent.
/// With <see cref="DenoiseSettings.Acceleration"/> the loop is <see cref="AcceleratedSampling"/> (AesMask on attn2 of
/// the capture layers, SkipSparse, spatial CFG on the guided channels, StepCache), one prompt at a time.
/// </summary>
public sealed class LuminaPipeline(LuminaNextDiT2DModel transformer, LuminaPipelineOptions? options = null) : IDenoisePipeline
{
    /// <summary>The pipeline's hard-coded VAE downsampling factor.</summary>
    public const int VaeScaleFactor = LuminaResolutionScaling.VaeScaleFactor;

    /// <summary>Names of this pipeline in model_index.json: the current one and the deprecated alias older repos carry.</summary>
    public static IReadOnlyList<string> PipelineClassNames { get; } = ["LuminaPipeline", "LuminaText2ImgPipeline"];

    public string PipelineClass => "LuminaPipeline";

    public LuminaNextDiT2DModel Transformer { get; } = transformer;

    public LuminaPipelineOptions Options { get; } = options ?? new LuminaPipelineOptions();

    // Latents first: they fix the batch B (one image per latent), and each prompt tensor is checked against them.
    public IReadOnlyList<ForwardInput> Inputs { get; } =
    [
        new("latents", true, "initial noise [B, in_channels, H/8, W/8], one per prompt", $"[B, {transformer.Config.InChannels}, h, w]"),
        new("prompt_embeds", true, "Gemma hidden_states[-2] [B, L, cross_attention_dim]", $"[B, L, {transformer.Config.CrossAttentionDim}]"),
        new("prompt_attention_mask", true, "[B, L], 1 = token, 0 = padding (float, int64 or bool)", "[B, L]"),
        new("negative_prompt_embeds", false, "[B, L, cross_attention_dim] (\"\" padded to L); required when guidance > 1",
            $"[B, L, {transformer.Config.CrossAttentionDim}]"),
        new("negative_prompt_attention_mask", false, "[B, L]; required with negative_prompt_embeds", "[B, L]"),
    ];

    public Tensor Denoise(IReadOnlyDictionary<string, Tensor> inputs, DenoiseSettings settings, Action<int, Tensor>? onStep = null)
    {
        inputs = ForwardInputs.Bind(PipelineClass, Inputs, inputs);
        Tensor initial = inputs["latents"];
        var conditioning = new LuminaConditioning(inputs["prompt_embeds"], inputs["prompt_attention_mask"],
            inputs.GetValueOrDefault("negative_prompt_embeds"), inputs.GetValueOrDefault("negative_prompt_attention_mask"));
        CheckInputs(initial, conditioning, settings);

        // retrieve_timesteps(scheduler, num_inference_steps, device, sigmas=None): no mu is passed, so a scheduler
        // with dynamic shifting fails here exactly as it does in diffusers.
        SigmaSchedule schedule = new FlowMatchEulerScheduler(settings.Scheduler).SetTimesteps(settings.Steps);
        using var denoiser = new LuminaDenoiser(Transformer, conditioning, settings.GuidanceScale, settings.Scheduler.NumTrainTimesteps,
            Options, settings.GuidanceMode);
        Tensor latents = initial.Backend.Scale(initial, 1f); // a private copy: the loop updates in place
        if (settings.ResolvedAcceleration is { UsesCachePolicy: true } cached)
        {
            // A caching policy decides per step for the batch as a whole, so it takes any batch size.
            ICachePolicy policy = CachePolicies.For(cached.Validated(), schedule.Steps)!;
            DenoiseLoop.Run(latents, schedule, new CachePolicyPredictor(denoiser, policy), onStep);
            settings.OnAccelerationReport?.Invoke(policy.Report(schedule));
        }
        else if (settings.ResolvedAcceleration is { } acceleration)
        {
            int p = Transformer.Config.PatchSize, h = initial.Shape[2], w = initial.Shape[3];
            var geometry = new AccelerationGeometry(h / p, w / p, h, w, Transformer.LayerCount);
            var report = AcceleratedSampling.Run(latents, schedule, acceleration, geometry, denoiser, AesMaskWeights(conditioning, settings), onStep);
            settings.OnAccelerationReport?.Invoke(report);
        }
        else
        {
            DenoiseLoop.Run(latents, schedule, denoiser, onStep);
        }
        return latents;
    }

    /// <summary>
    /// AesMask's weights over the L caption keys of attn2: <see cref="DenoiseSettings.TextWeights"/>, the token
    /// importance of the Gemma tokens; without it (no prompt known), zeros.
    /// <para>Why not equal weights, as on SD3: weights that are equal on every real token carry no information on
    /// Lumina. The capture reduces a softmax over the unmasked caption keys, whose rows sum to 1, so the heat map is
    /// the same constant at every image token and AesMask must fall back (flat map: no focus set, uniform guidance,
    /// no sparse steps). In fp32 that map is constant only to an ulp, and the finalisation's min-max normalisation
    /// (epsilon 1e-8) stretches the rounding noise into a random mask (measured on a tiny model: normalised std 0.15,
    /// above the 0.12 gate). Zeros give an exactly constant map, so the fallback is what happens; given weights that
    /// are equal on every token of <c>prompt_attention_mask</c> row 0 are replaced by zeros for the same reason.</para>
    /// </summary>
    internal static float[] AesMaskWeights(LuminaConditioning conditioning, DenoiseSettings settings)
    {
        int length = conditioning.PromptEmbeds.Shape[1];
        if (settings.TextWeights is not { } weights) return new float[length];
        if (weights.Length != length)
            throw new AccelAesException(
                $"AesMask text weights have {weights.Length} entries; the caption (prompt_embeds {conditioning.PromptEmbeds.Shape}) has {length} tokens.");
        Tensor mask = conditioning.PromptAttentionMask;
        float[] real = mask.Backend.Download(mask);
        float? first = null;
        for (int l = 0; l < length; l++)
        {
            if (real[l] == 0f) continue;
            first ??= weights[l];
            if (weights[l] != first) return weights;
        }
        return new float[length];
    }

    private void CheckInputs(Tensor latents, LuminaConditioning c, DenoiseSettings settings)
    {
        var config = Transformer.Config;
        ModelInputs.Require(latents.Shape.Rank == 4 && latents.Shape[1] == config.InChannels, "latents", latents.Shape,
            $"[B, {config.InChannels}, H/{VaeScaleFactor}, W/{VaeScaleFactor}]");
        int batch = latents.Shape[0];
        if (settings.Acceleration is not null && batch != 1)
            throw new AccelAesException($"Accelerated sampling builds one focus mask, so it takes one prompt at a time; latents {latents.Shape} hold {batch}.");
        ModelInputs.Require(latents.Shape[2] % 2 == 0 && latents.Shape[3] % 2 == 0 && latents.Shape[2] > 0 && latents.Shape[3] > 0,
            "latents", latents.Shape, "an even latent height and width (the pipeline requires pixel sizes divisible by 16)");
        if (settings.Height is int h && h != latents.Shape[2] * VaeScaleFactor)
            throw new AccelAesException($"--height {h} does not match latents {latents.Shape}, which are {latents.Shape[2] * VaeScaleFactor} pixels high.");
        if (settings.Width is int w && w != latents.Shape[3] * VaeScaleFactor)
            throw new AccelAesException($"--width {w} does not match latents {latents.Shape}, which are {latents.Shape[3] * VaeScaleFactor} pixels wide.");
        ModelInputs.Require(c.PromptEmbeds.Shape.Rank == 3 && c.PromptEmbeds.Shape[0] == batch && c.PromptEmbeds.Shape[2] == config.CrossAttentionDim,
            "prompt_embeds", c.PromptEmbeds.Shape, $"[{batch}, L, {config.CrossAttentionDim}] (one prompt per latent)");
        int length = c.PromptEmbeds.Shape[1];
        ModelInputs.Require(c.PromptAttentionMask.Shape == new Shape(batch, length), "prompt_attention_mask",
            c.PromptAttentionMask.Shape, $"[{batch}, {length}]");
        LuminaNextDiT2DModel.CheckCaptionMask(c.PromptAttentionMask, "prompt_attention_mask");
        if (c.NegativePromptEmbeds is not null && c.NegativePromptAttentionMask is null)
            throw new ModelInputException("negative_prompt_attention_mask", "negative_prompt_embeds needs negative_prompt_attention_mask.");
        if (c.NegativePromptAttentionMask is not null && settings.GuidanceScale > 1f)
            LuminaNextDiT2DModel.CheckCaptionMask(c.NegativePromptAttentionMask, "negative_prompt_attention_mask");
    }
}
