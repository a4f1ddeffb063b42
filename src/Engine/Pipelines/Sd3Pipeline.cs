using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Components;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Pipelines;

/// <summary>
/// <c>StableDiffusion3Pipeline</c>'s denoising conventions: <c>set_timesteps(N)</c> without explicit sigmas
/// (μ from the latent grid only when the scheduler uses dynamic shifting, with this pipeline's default
/// max_shift 1.16), CFG over [negative, positive], timestep 1000·σ.
/// </summary>
public sealed class Sd3Pipeline(Sd3Transformer2DModel transformer) : IDenoisePipeline
{
    /// <summary>SD3's VAE downsamples by 8 (2 ** (len(block_out_channels) − 1)).</summary>
    public const int VaeScaleFactor = 8;

    public string PipelineClass => "StableDiffusion3Pipeline";

    public Sd3Transformer2DModel Transformer { get; } = transformer;

    // Latents first: they fix the batch B (one image per latent), and each prompt tensor is checked against them.
    public IReadOnlyList<ForwardInput> Inputs { get; } =
    [
        new("latents", true, "initial noise [B, C, H/8, W/8], one per prompt", $"[B, {transformer.Config.InChannels}, h, w]"),
        new("prompt_embeds", true, "[B, L, joint_attention_dim]", $"[B, L, {transformer.Config.JointAttentionDim}]"),
        new("pooled_prompt_embeds", true, "[B, pooled_projection_dim]", $"[B, {transformer.Config.PooledProjectionDim}]"),
        // diffusers' check_inputs: negatives given directly must have the shape of the prompt's.
        new("negative_prompt_embeds", false, "[B, L, joint_attention_dim]; required when guidance > 1",
            $"[B, L, {transformer.Config.JointAttentionDim}]"),
        new("negative_pooled_prompt_embeds", false, "[B, pooled_projection_dim]; required when guidance > 1",
            $"[B, {transformer.Config.PooledProjectionDim}]"),
    ];

    public Tensor Denoise(IReadOnlyDictionary<string, Tensor> inputs, DenoiseSettings settings, Action<int, Tensor>? onStep = null)
    {
        inputs = ForwardInputs.Bind(PipelineClass, Inputs, inputs);
        Tensor initial = inputs["latents"];
        CheckLatentSize(initial, settings);
        var scheduler = new FlowMatchEulerScheduler(settings.Scheduler);
        double? mu = null;
        if (settings.Scheduler.UseDynamicShifting)
        {
            int p = Transformer.Config.PatchSize;
            int seqLen = initial.Shape[2] / p * (initial.Shape[3] / p);
            var s = settings.Scheduler;
            mu = FlowMatchEulerScheduler.CalculateShift(seqLen, s.BaseImageSeqLen, s.MaxImageSeqLen,
                s.HasBaseShift ? s.BaseShift : 0.5, s.HasMaxShift ? s.MaxShift : 1.16);
        }
        SigmaSchedule schedule = scheduler.SetTimesteps(settings.Steps, mu: mu);
        var conditioning = new Sd3Conditioning(inputs["prompt_embeds"], inputs["pooled_prompt_embeds"],
            inputs.GetValueOrDefault("negative_prompt_embeds"), inputs.GetValueOrDefault("negative_pooled_prompt_embeds"));
        using var denoiser = new Sd3Denoiser(Transformer, conditioning, settings.GuidanceScale, settings.GuidanceMode);
        IBackend be = initial.Backend;
        Tensor latents = be.Copy(initial); // a private copy: the loop updates in place
        if (settings.ResolvedAcceleration is { UsesCachePolicy: true } cached)
        {
            // A caching policy decides per step for the batch as a whole, so it takes any batch size.
            ICachePolicy policy = CachePolicies.For(cached.Validated(), schedule.Steps)!;
            DenoiseLoop.Run(latents, schedule, new CachePolicyPredictor(denoiser, policy), onStep);
            settings.OnAccelerationReport?.Invoke(policy.Report(schedule));
        }
        else if (settings.ResolvedAcceleration is { } acceleration)
        {
            if (initial.Shape[0] != 1)
                throw new AccelAesException($"Accelerated sampling builds one focus mask, so it takes one prompt at a time; latents {initial.Shape} hold {initial.Shape[0]}.");
            int p = Transformer.Config.PatchSize, h = initial.Shape[2], w = initial.Shape[3];
            var geometry = new AccelerationGeometry(h / p, w / p, h, w, Transformer.BlockCount);
            float[] weights = settings.TextWeights ?? PromptWeights.Uniform(conditioning.PromptEmbeds.Shape[1]);
            var report = AcceleratedSampling.Run(latents, schedule, acceleration, geometry, denoiser, weights, onStep);
            settings.OnAccelerationReport?.Invoke(report);
        }
        else
        {
            DenoiseLoop.Run(latents, schedule, denoiser, onStep);
        }
        return latents;
    }

    private static void CheckLatentSize(Tensor latents, DenoiseSettings settings)
    {
        if (latents.Shape.Rank != 4)
            throw new AccelAesException($"latents {latents.Shape} must be [B, C, H/{VaeScaleFactor}, W/{VaeScaleFactor}].");
        if (settings.Height is int h && h / VaeScaleFactor != latents.Shape[2])
            throw new AccelAesException($"--height {h} implies {h / VaeScaleFactor} latent rows, but latents {latents.Shape} have {latents.Shape[2]}.");
        if (settings.Width is int w && w / VaeScaleFactor != latents.Shape[3])
            throw new AccelAesException($"--width {w} implies {w / VaeScaleFactor} latent columns, but latents {latents.Shape} have {latents.Shape[3]}.");
    }
}
