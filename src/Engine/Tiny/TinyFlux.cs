using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tiny;

/// <summary>
/// Tiny FLUX.1 transformers: every code path of the real models (double- and single-stream blocks, qk RMSNorm,
/// three-axis RoPE with uneven axes, guidance embedder or none) at a few hundred kB. 64 input channels are
/// 16 latent channels packed 2×2, as in FLUX.1.
/// </summary>
internal static class TinyFlux
{
    private const string DevConfig = """
        {
          "_class_name": "FluxTransformer2DModel",
          "_diffusers_version": "0.40.0.dev0",
          "attention_head_dim": 16,
          "axes_dims_rope": [4, 6, 6],
          "guidance_embeds": true,
          "in_channels": 64,
          "joint_attention_dim": 48,
          "num_attention_heads": 3,
          "num_layers": 2,
          "num_single_layers": 2,
          "out_channels": null,
          "patch_size": 1,
          "pooled_projection_dim": 40
        }
        """;

    private const string SchnellConfig = """
        {
          "_class_name": "FluxTransformer2DModel",
          "_diffusers_version": "0.40.0.dev0",
          "attention_head_dim": 16,
          "axes_dims_rope": [4, 6, 6],
          "guidance_embeds": false,
          "in_channels": 64,
          "joint_attention_dim": 48,
          "num_attention_heads": 3,
          "num_layers": 2,
          "num_single_layers": 2,
          "out_channels": null,
          "patch_size": 1,
          "pooled_projection_dim": 40
        }
        """;

    /// <summary>FLUX.1-dev's scheduler: resolution-dependent (dynamic) shifting, μ from 0.5 at 256 to 1.15 at 4096 tokens.</summary>
    internal const string DevScheduler = """
        {
          "_class_name": "FlowMatchEulerDiscreteScheduler",
          "_diffusers_version": "0.40.0.dev0",
          "base_image_seq_len": 256,
          "base_shift": 0.5,
          "max_image_seq_len": 4096,
          "max_shift": 1.15,
          "num_train_timesteps": 1000,
          "shift": 3.0,
          "use_dynamic_shifting": true
        }
        """;

    /// <summary>FLUX.1-schnell's scheduler: no shifting at all (shift 1, dynamic shifting off).</summary>
    internal const string SchnellScheduler = """
        {
          "_class_name": "FlowMatchEulerDiscreteScheduler",
          "_diffusers_version": "0.40.0.dev0",
          "base_image_seq_len": 256,
          "base_shift": 0.5,
          "max_image_seq_len": 4096,
          "max_shift": 1.15,
          "num_train_timesteps": 1000,
          "shift": 1.0,
          "use_dynamic_shifting": false
        }
        """;

    /// <summary>
    /// The rest of a FLUX.1 pipeline, as the real repos lay it out: tokenizer (CLIP, 77 tokens) and text_encoder
    /// (CLIPTextModel whose pooler_output has the transformer's pooled_projection_dim), tokenizer_2 (T5,
    /// generated SentencePiece model) and text_encoder_2 (T5 encoder of joint_attention_dim), and the 16-channel
    /// VAE with FLUX's scaling and shift.
    /// </summary>
    private static TinyComponentSpec[] Pipeline(string transformerConfig)
    {
        var config = FluxTransformerConfig.From(Loader.Diffusers.JsonConfig.Parse("<tiny flux>", transformerConfig));
        return
        [
            new TinyComponentSpec("transformer", "diffusers", FluxTransformerConfig.ClassName, transformerConfig),
            .. TinyTextEncoders.ForFlux(config.JointAttentionDim, config.PooledProjectionDim, clipVocabSize: TinyTokenizers.ClipVocabSize),
            TinyVae.FluxVae,
        ];
    }

    private static readonly TinyFileFolder[] Tokenizers =
    [
        new("tokenizer", "transformers", "CLIPTokenizer", dir => TinyTokenizers.WriteClip(dir)),
        new("tokenizer_2", "transformers", "T5Tokenizer", dir => TinyTokenizers.WriteT5(dir)),
    ];

    public static readonly TinyModelSpec Flux = new("flux", "FluxPipeline",
        "FLUX.1-dev layout: double + single stream blocks, guidance embedding, dynamic shifting; CLIP, T5, VAE",
        Pipeline(DevConfig),
        DevScheduler)
    {
        FileFolders = Tokenizers,
    };

    public static readonly TinyModelSpec FluxSchnell = new("flux-schnell", "FluxPipeline",
        "FLUX.1-schnell layout: no guidance embedding, unshifted schedule; CLIP, T5, VAE",
        Pipeline(SchnellConfig),
        SchnellScheduler)
    {
        FileFolders = Tokenizers,
    };
}
