using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tiny;

/// <summary>Tiny SD3 / SD3.5 transformers: every code path of the real models at a few hundred kB.</summary>
internal static class TinySd3
{
    private const string Sd3Config = """
        {
          "_class_name": "SD3Transformer2DModel",
          "_diffusers_version": "0.40.0.dev0",
          "attention_head_dim": 16,
          "caption_projection_dim": 64,
          "dual_attention_layers": [],
          "in_channels": 16,
          "joint_attention_dim": 64,
          "num_attention_heads": 4,
          "num_layers": 3,
          "out_channels": 16,
          "patch_size": 2,
          "pooled_projection_dim": 64,
          "pos_embed_max_size": 48,
          "qk_norm": null,
          "sample_size": 32
        }
        """;

    private const string Sd35Config = """
        {
          "_class_name": "SD3Transformer2DModel",
          "_diffusers_version": "0.40.0.dev0",
          "attention_head_dim": 16,
          "caption_projection_dim": 64,
          "dual_attention_layers": [0, 1],
          "in_channels": 16,
          "joint_attention_dim": 64,
          "num_attention_heads": 4,
          "num_layers": 3,
          "out_channels": 16,
          "patch_size": 2,
          "pooled_projection_dim": 64,
          "pos_embed_max_size": 48,
          "qk_norm": "rms_norm",
          "sample_size": 32
        }
        """;

    /// <summary>SD3-Medium's scheduler: shift 3, no dynamic shifting.</summary>
    internal const string Sd3Scheduler = """
        {
          "_class_name": "FlowMatchEulerDiscreteScheduler",
          "_diffusers_version": "0.40.0.dev0",
          "num_train_timesteps": 1000,
          "shift": 3.0
        }
        """;

    /// <summary>Real SD3 checkpoints carry the sin-cos table as a persistent buffer; so do the tiny ones.</summary>
    private static void AddPositionTable(Weights.RandomWeightSource source, Loader.Diffusers.JsonConfig json)
    {
        var c = Sd3TransformerConfig.From(json);
        int n = c.PosEmbedMaxSize;
        source.Add("pos_embed.pos_embed", new Shape(1, n * n, c.InnerDim),
            SinCosPositionTable.Create(c.InnerDim, n, c.SampleSize / c.PatchSize));
    }

    /// <summary>
    /// The rest of an SD3 pipeline: CLIP-L and CLIP-G text encoders with their tokenizers (tokenizer_2 pads with
    /// '!' as SD3's does) and the 16-channel VAE. T5 is left out (text_encoder_3 = None is a supported SD3
    /// configuration: its part of the prompt embeddings is zeros), because a SentencePiece model cannot be
    /// generated as simply as a byte-level BPE vocabulary.
    /// </summary>
    private static TinyComponentSpec[] Pipeline(TinyComponentSpec transformer) =>
    [
        transformer,
        TinyTextEncoders.ClipL("text_encoder", withProjection: true, hiddenSize: 24, projectionDim: 32, vocabSize: TinyTokenizers.ClipVocabSize),
        TinyTextEncoders.ClipG("text_encoder_2", hiddenSize: 32, projectionDim: 32, vocabSize: TinyTokenizers.ClipVocabSize,
            endOfTextId: TinyTokenizers.ClipEndOfTextId),
        TinyVae.Vae16.Components[0],
    ];

    private static readonly TinyFileFolder[] Tokenizers =
    [
        new("tokenizer", "transformers", "CLIPTokenizer", dir => TinyTokenizers.WriteClip(dir)),
        new("tokenizer_2", "transformers", "CLIPTokenizer", dir => TinyTokenizers.WriteClip(dir, padToken: "!")),
    ];

    public static readonly TinyModelSpec Sd3 = new("sd3", "StableDiffusion3Pipeline",
        "SD3-Medium layout: joint blocks, context_pre_only last block; CLIP-L/G, VAE (no T5)",
        Pipeline(new TinyComponentSpec("transformer", "diffusers", Sd3TransformerConfig.ClassName, Sd3Config, AddPositionTable)),
        Sd3Scheduler)
    {
        FileFolders = Tokenizers,
        AbsentComponents = ["text_encoder_3", "tokenizer_3"],
    };

    public static readonly TinyModelSpec Sd35 = new("sd35", "StableDiffusion3Pipeline",
        "SD3.5-Medium layout: MMDiT-X dual attention and qk RMSNorm; CLIP-L/G, VAE (no T5)",
        Pipeline(new TinyComponentSpec("transformer", "diffusers", Sd3TransformerConfig.ClassName, Sd35Config, AddPositionTable)),
        Sd3Scheduler)
    {
        FileFolders = Tokenizers,
        AbsentComponents = ["text_encoder_3", "tokenizer_3"],
    };
}
