using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tiny;

/// <summary>
/// Tiny <c>AutoencoderKL</c>s in the two layouts the engine's pipelines use, shaped like the real VAEs at a
/// fraction of the width: four levels (×8), channels (8, 16, 32, 32) so that two up blocks change width
/// (conv_shortcut) as 512→256→128 does, three resnets per up block (layers_per_block 2), mid-block attention,
/// GroupNorm with 4 groups. Written as single-component folders (config.json + weights at the root, no
/// model_index.json), which is what <c>accelaes forward</c> and the VAE conformance goldens use.
/// The decoder alone is generated: the checkpoints have no <c>encoder.*</c> / <c>quant_conv.*</c> tensors.
/// </summary>
internal static class TinyVae
{
    private const string Vae16Config = """
        {
          "_class_name": "AutoencoderKL",
          "_diffusers_version": "0.40.0.dev0",
          "act_fn": "silu",
          "block_out_channels": [8, 16, 32, 32],
          "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
          "force_upcast": true,
          "in_channels": 3,
          "latent_channels": 16,
          "latents_mean": null,
          "latents_std": null,
          "layers_per_block": 2,
          "mid_block_add_attention": true,
          "norm_num_groups": 4,
          "out_channels": 3,
          "sample_size": 64,
          "scaling_factor": 1.5305,
          "shift_factor": 0.0609,
          "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
          "use_post_quant_conv": false,
          "use_quant_conv": false
        }
        """;

    private const string Vae4Config = """
        {
          "_class_name": "AutoencoderKL",
          "_diffusers_version": "0.40.0.dev0",
          "act_fn": "silu",
          "block_out_channels": [8, 16, 32, 32],
          "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
          "force_upcast": true,
          "in_channels": 3,
          "latent_channels": 4,
          "latents_mean": null,
          "latents_std": null,
          "layers_per_block": 2,
          "mid_block_add_attention": true,
          "norm_num_groups": 4,
          "out_channels": 3,
          "sample_size": 64,
          "scaling_factor": 0.13025,
          "shift_factor": null,
          "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
          "use_post_quant_conv": true,
          "use_quant_conv": true
        }
        """;

    /// <summary>SD3 / SD3.5 VAE layout (FLUX's differs only in scaling 0.3611 / shift 0.1159).</summary>
    public static readonly TinyModelSpec Vae16 = new("vae16", null,
        "AutoencoderKL, SD3/FLUX layout: 16 latent channels, scaling 1.5305 + shift 0.0609, no quant convs",
        [new TinyComponentSpec("vae", "diffusers", AutoencoderKLConfig.ClassName, Vae16Config)],
        null);

    /// <summary>
    /// FLUX.1's VAE layout: the SD3 one with FLUX's latent statistics (scaling 0.3611, shift 0.1159), for the tiny
    /// FLUX pipelines' <c>vae</c> folder.
    /// </summary>
    public static readonly TinyComponentSpec FluxVae = new("vae", "diffusers", AutoencoderKLConfig.ClassName,
        Vae16Config.Replace("\"scaling_factor\": 1.5305", "\"scaling_factor\": 0.3611").Replace("\"shift_factor\": 0.0609", "\"shift_factor\": 0.1159"));

    /// <summary>SDXL VAE layout, as Lumina-Next uses it.</summary>
    public static readonly TinyModelSpec Vae4 = new("vae4", null,
        "AutoencoderKL, SDXL/Lumina layout: 4 latent channels, scaling 0.13025, post_quant_conv",
        [new TinyComponentSpec("vae", "diffusers", AutoencoderKLConfig.ClassName, Vae4Config)],
        null);
}
