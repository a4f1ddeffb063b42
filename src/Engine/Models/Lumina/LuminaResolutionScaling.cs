using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.Lumina;

/// <summary>
/// What <c>LuminaText2ImgPipeline.__call__</c> derives from the image size and the current timestep and hands to
/// the transformer besides tensors: the RoPE factors of <c>image_rotary_emb</c> and the proportional-attention
/// base (<c>cross_attention_kwargs["base_sequence_length"]</c>). diffusers (pipeline_lumina.py):
/// <list type="bullet">
/// <item><c>default_image_size = sample_size · 8</c> (vae_scale_factor 8, transformer.config.sample_size).</item>
/// <item><c>base_sequence_length = (default_image_size // 16)²</c> when <c>proportional_attn</c> (default true), else absent.</item>
/// <item><c>scaling_factor = sqrt(width · height / default_image_size²)</c>, width and height in pixels (= latent · 8).</item>
/// <item>Per step: if <c>current_timestep[0] &lt; scaling_watershed</c> (default 1.0) then linear_factor = scaling_factor,
/// ntk_factor = 1, else linear_factor = 1, ntk_factor = scaling_factor. The model time is 1 − t/1000 &lt; 1 on every
/// step of a normal schedule, so with the default watershed the linear branch is always taken.</item>
/// </list>
/// </summary>
/// <param name="BaseSequenceLength">Proportional-attention base; null = plain 1/√head_dim scale (proportional_attn off).</param>
public sealed record LuminaResolutionScaling(double LinearFactor, double NtkFactor, int? BaseSequenceLength)
{
    /// <summary>The pipeline's VAE downsampling factor (hard-coded to 8 in LuminaText2ImgPipeline).</summary>
    public const int VaeScaleFactor = 8;

    /// <summary>The pipeline's default <c>scaling_watershed</c>.</summary>
    public const double DefaultScalingWatershed = 1.0;

    /// <summary>The pipeline's <c>default_image_size</c> in pixels: sample_size · 8.</summary>
    public static int DefaultImageSize(LuminaNextDiTConfig config) => config.SampleSize * VaeScaleFactor;

    /// <summary>The pipeline's proportional-attention base, <c>(default_image_size // 16)²</c>.</summary>
    public static int DefaultBaseSequenceLength(LuminaNextDiTConfig config)
    {
        int side = DefaultImageSize(config) / 16;
        return side * side;
    }

    /// <summary><c>sqrt(width · height / default_image_size²)</c> for a latent of the given size (pixels = latent · 8).</summary>
    public static double ScalingFactor(LuminaNextDiTConfig config, int latentHeight, int latentWidth)
    {
        double height = (double)latentHeight * VaeScaleFactor, width = (double)latentWidth * VaeScaleFactor;
        double size = DefaultImageSize(config);
        return Math.Sqrt(width * height / (size * size));
    }

    /// <summary>
    /// The choices the pipeline makes for one step. <paramref name="modelTimestep"/> is the model time of the first
    /// batch item (<c>current_timestep[0]</c>, i.e. 1 − t/1000).
    /// </summary>
    public static LuminaResolutionScaling ForPipeline(LuminaNextDiTConfig config, int latentHeight, int latentWidth, float modelTimestep,
        double scalingWatershed = DefaultScalingWatershed, bool proportionalAttention = true)
    {
        double scaling = ScalingFactor(config, latentHeight, latentWidth);
        bool linear = modelTimestep < scalingWatershed;
        return new LuminaResolutionScaling(
            LinearFactor: linear ? scaling : 1.0,
            NtkFactor: linear ? 1.0 : scaling,
            BaseSequenceLength: proportionalAttention ? DefaultBaseSequenceLength(config) : null);
    }
}
