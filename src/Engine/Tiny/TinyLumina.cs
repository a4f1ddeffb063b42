using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tiny;

/// <summary>
/// A tiny Lumina-Next-SFT: grouped-query attention (4 query heads, 2 kv heads, head_dim 16), qk LayerNorm,
/// learn_sigma (8 output channels), and — as in the converted real checkpoint — attn2's query path holding the
/// same values as attn1's, so the shared-query path runs. Scheduler: Lumina-Next-SFT's
/// FlowMatchEulerDiscreteScheduler with shift 1.0 (architectures.md §1.3).
/// </summary>
internal static class TinyLumina
{
    private const string Config = """
        {
          "_class_name": "LuminaNextDiT2DModel",
          "_diffusers_version": "0.40.0.dev0",
          "cross_attention_dim": 32,
          "ffn_dim_multiplier": null,
          "hidden_size": 64,
          "in_channels": 4,
          "learn_sigma": true,
          "multiple_of": 16,
          "norm_eps": 1e-05,
          "num_attention_heads": 4,
          "num_kv_heads": 2,
          "num_layers": 2,
          "patch_size": 2,
          "qk_norm": true,
          "sample_size": 16,
          "scaling_factor": 1.0
        }
        """;

    /// <summary>Lumina-Next-SFT's scheduler: the conversion script's <c>FlowMatchEulerDiscreteScheduler()</c>, shift 1.0.</summary>
    internal const string Scheduler = """
        {
          "_class_name": "FlowMatchEulerDiscreteScheduler",
          "_diffusers_version": "0.40.0.dev0",
          "num_train_timesteps": 1000,
          "shift": 1.0
        }
        """;

    /// <summary>The real converter writes the original <c>wq</c> / <c>q_norm</c> into both attn1 and attn2 (architectures.md §5.1).</summary>
    private static void ShareQueryWeights(RandomWeightSource source, JsonConfig json)
    {
        var c = LuminaNextDiTConfig.From(json);
        var cpu = new CpuBackend();
        var tensors = new (string Name, Shape Shape)[]
        {
            ("to_q.weight", new Shape(c.QueryDim, c.HiddenSize)),
            ("norm_q.weight", new Shape(c.QueryDim)),
            ("norm_q.bias", new Shape(c.QueryDim)),
        };
        for (int i = 0; i < c.NumLayers; i++)
            foreach (var (name, shape) in tensors)
            {
                float[] values = cpu.Download(source.Load($"layers.{i}.attn1.{name}", shape, cpu));
                source.Add($"layers.{i}.attn2.{name}", shape, values);
            }
    }

    /// <summary>
    /// Lumina-Next-SFT's pipeline folders: the transformer, tokenizer (Gemma, generated SentencePiece BPE model with
    /// byte fallback) and text_encoder (GemmaModel of the transformer's cross_attention_dim), and the 4-channel
    /// SDXL-layout VAE (scaling 0.13025).
    /// </summary>
    public static readonly TinyModelSpec LuminaNext = new("lumina-next", "LuminaPipeline",
        "Lumina-Next-SFT layout: GQA, qk LayerNorm across heads, learn_sigma, shared attn1/attn2 query weights; Gemma, VAE",
        [
            new TinyComponentSpec("transformer", "diffusers", LuminaNextDiTConfig.ClassName, Config, ShareQueryWeights),
            .. TinyTextEncoders.ForLumina(LuminaNextDiTConfig.From(JsonConfig.Parse("<tiny lumina>", Config)).CrossAttentionDim),
            TinyVae.Vae4.Components[0],
        ],
        Scheduler)
    {
        FileFolders = [new("tokenizer", "transformers", "GemmaTokenizer", TinyTokenizers.WriteGemma)],
    };
}
