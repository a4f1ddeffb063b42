using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Pipelines;

/// <summary>
/// What a pipeline samples with when the caller sets nothing: the diffusers pipelines' <c>__call__</c> defaults, except
/// FLUX.1-schnell, whose model card overrides FluxPipeline's (a timestep-distilled model is run in 4 steps without
/// guidance). <see cref="MaxSequenceLength"/> is the T5 token count the pipeline pads prompts to.
/// </summary>
public sealed record PipelineDefaults(int Steps, float GuidanceScale, int MaxSequenceLength)
{
    /// <summary>StableDiffusion3Pipeline: num_inference_steps 28, guidance_scale 7.0, max_sequence_length 256.</summary>
    public static PipelineDefaults Sd3 { get; } = new(28, 7.0f, 256);

    /// <summary>FluxPipeline (FLUX.1-dev): num_inference_steps 28, guidance_scale 3.5, max_sequence_length 512.</summary>
    public static PipelineDefaults FluxDev { get; } = new(28, 3.5f, 512);

    /// <summary>
    /// FLUX.1-schnell's model card: <c>guidance_scale=0.0, num_inference_steps=4, max_sequence_length=256</c>. The
    /// guidance value is only reported: a transformer without a guidance embedder takes no guidance input.
    /// </summary>
    public static PipelineDefaults FluxSchnell { get; } = new(4, 0f, 256);

    /// <summary>LuminaPipeline: num_inference_steps 30, guidance_scale 4.0, max_sequence_length 256 (Gemma tokens).</summary>
    public static PipelineDefaults Lumina { get; } = new(30, 4.0f, 256);

    /// <summary>
    /// Whether a FLUX model is timestep-distilled like FLUX.1-schnell: its transformer has no guidance embedder
    /// (<c>guidance_embeds: false</c>) and its scheduler does not shift (<c>use_dynamic_shifting: false</c>,
    /// <c>shift: 1.0</c>, as schnell's scheduler_config.json says). A guidance-free transformer paired with a shifting
    /// scheduler is not schnell, and keeps FluxPipeline's defaults.
    /// </summary>
    public static bool IsFluxSchnell(FluxTransformerConfig transformer, FlowMatchEulerSchedulerConfig scheduler) =>
        !transformer.GuidanceEmbeds && !scheduler.UseDynamicShifting && scheduler.Shift == 1.0 && scheduler.ShiftTerminal is null;

    /// <summary>The defaults of a FLUX model: schnell's when <see cref="IsFluxSchnell"/>, else FLUX.1-dev's (FluxPipeline's own).</summary>
    public static PipelineDefaults ForFlux(FluxTransformerConfig transformer, FlowMatchEulerSchedulerConfig scheduler) =>
        IsFluxSchnell(transformer, scheduler) ? FluxSchnell : FluxDev;
}
