using System.Text.Json;
using System.Text.Json.Nodes;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tiny;

/// <summary>
/// Tiny random-weight text encoders laid out as transformers saves them (config.json with <c>architectures</c>,
/// <c>model.safetensors</c>), for the tiny pipelines: a CLIP-L-like and an OpenCLIP-bigG-like CLIP text model,
/// a T5 v1.1 encoder and a Gemma. Every code path of the real encoders is present (projection, both pooling
/// rules, quick_gelu and gelu, gated-gelu T5 with relative buckets, multi-query Gemma with head_dim ≠
/// hidden/heads).
///
/// Vocabularies are tiny, so the tiny pipelines' tokenizers must produce ids below them: the defaults fit the
/// conformance tokenizers in ../shared/conformance/text_encoders/tokenizers (CLIP BPE: ids &lt; 1000, plus
/// room for added tokens up to 1023; T5 SentencePiece: 200 pieces + 100 extra ids &lt; 300; Gemma: 400 pieces).
/// The CLIP models' <c>eos_token_id</c>s follow that CLIP tokenizer (&lt;|endoftext|&gt; = 999).
/// </summary>
public static class TinyTextEncoders
{
    public const int ClipVocabSize = 1024;
    public const int ClipEndOfTextId = 999;
    public const int T5VocabSize = 320;
    public const int GemmaVocabSize = 400;

    /// <summary>
    /// CLIP ViT-L/14-like: quick_gelu, and <c>eos_token_id = 2</c> like the real SD3 / FLUX checkpoints
    /// (legacy configs: pooled at argmax(input_ids)).
    /// </summary>
    public static TinyComponentSpec ClipL(string folder = "text_encoder", bool withProjection = true, int hiddenSize = 24,
        int projectionDim = 24, int vocabSize = ClipVocabSize, int heads = 3)
        => Clip(folder, withProjection, hiddenSize, heads, projectionDim, vocabSize, "quick_gelu", eosTokenId: 2);

    /// <summary>OpenCLIP bigG-like: exact gelu, pooled at the first <c>eos_token_id</c> (&lt;|endoftext|&gt;).</summary>
    public static TinyComponentSpec ClipG(string folder = "text_encoder_2", int hiddenSize = 32, int projectionDim = 40,
        int vocabSize = ClipVocabSize, int endOfTextId = ClipEndOfTextId)
        => Clip(folder, withProjection: true, hiddenSize, heads: 4, projectionDim, vocabSize, "gelu", endOfTextId);

    /// <summary>T5 v1.1-like encoder (gated-gelu, relative position buckets), width <paramref name="dModel"/>.</summary>
    public static TinyComponentSpec T5(string folder, int dModel = 64, int vocabSize = T5VocabSize)
        => new(folder, "transformers", T5Config.EncoderModelClass, Json(new JsonObject
        {
            ["architectures"] = new JsonArray(T5Config.EncoderModelClass),
            ["d_ff"] = 2 * dModel,
            ["d_kv"] = 8,
            ["d_model"] = dModel,
            ["dense_act_fn"] = "gelu_new",
            ["eos_token_id"] = 1,
            ["feed_forward_proj"] = "gated-gelu",
            ["is_gated_act"] = true,
            ["layer_norm_epsilon"] = 1e-6,
            ["model_type"] = "t5",
            ["num_heads"] = 4,
            ["num_layers"] = 2,
            ["pad_token_id"] = 0,
            ["relative_attention_max_distance"] = 128,
            ["relative_attention_num_buckets"] = 32,
            ["vocab_size"] = vocabSize,
        }));

    /// <summary>Gemma-2b-like: multi-query attention, head_dim 16 with 4 heads over hidden <paramref name="hiddenSize"/>.</summary>
    public static TinyComponentSpec Gemma(string folder = "text_encoder", int hiddenSize = 48, int vocabSize = GemmaVocabSize)
        => new(folder, "transformers", GemmaConfig.ModelClass, Json(new JsonObject
        {
            ["architectures"] = new JsonArray(GemmaConfig.ModelClass),
            ["attention_bias"] = false,
            ["bos_token_id"] = 2,
            ["eos_token_id"] = 1,
            ["head_dim"] = 16,
            ["hidden_act"] = "gelu_pytorch_tanh",
            ["hidden_activation"] = "gelu_pytorch_tanh",
            ["hidden_size"] = hiddenSize,
            ["intermediate_size"] = 2 * hiddenSize,
            ["max_position_embeddings"] = 256,
            ["model_type"] = "gemma",
            ["num_attention_heads"] = 4,
            ["num_hidden_layers"] = 3,
            ["num_key_value_heads"] = 1,
            ["pad_token_id"] = 0,
            ["rms_norm_eps"] = 1e-6,
            ["rope_theta"] = 10000.0,
            ["vocab_size"] = vocabSize,
        }), CenteredGemmaNorms);

    /// <summary>
    /// SD3's three encoders, sized for a transformer with <paramref name="jointAttentionDim"/> and
    /// <paramref name="pooledProjectionDim"/> (= the two projection widths together). CLIP-L and CLIP-G hidden
    /// widths together stay below the joint width where they can, so the zero padding of SD3's assembly is exercised.
    /// </summary>
    public static IReadOnlyList<TinyComponentSpec> ForSd3(int jointAttentionDim, int pooledProjectionDim)
    {
        int projectionL = pooledProjectionDim / 2;
        return
        [
            ClipL("text_encoder", withProjection: true, projectionDim: projectionL),
            ClipG("text_encoder_2", projectionDim: pooledProjectionDim - projectionL),
            T5("text_encoder_3", dModel: jointAttentionDim),
        ];
    }

    /// <summary>
    /// FLUX's encoders: CLIPTextModel (pooler_output width = <paramref name="pooledProjectionDim"/>, 3 heads when
    /// that divides it, else the fewest heads that do) and T5.
    /// </summary>
    public static IReadOnlyList<TinyComponentSpec> ForFlux(int jointAttentionDim, int pooledProjectionDim,
        int clipVocabSize = ClipVocabSize, int t5VocabSize = T5VocabSize)
        =>
        [
            ClipL("text_encoder", withProjection: false, hiddenSize: pooledProjectionDim, vocabSize: clipVocabSize,
                heads: pooledProjectionDim % 3 == 0 ? 3 : Enumerable.Range(2, pooledProjectionDim).First(h => pooledProjectionDim % h == 0)),
            T5("text_encoder_2", dModel: jointAttentionDim, vocabSize: t5VocabSize),
        ];

    /// <summary>Lumina-Next's encoder: Gemma with hidden width = the transformer's <c>cross_attention_dim</c>.</summary>
    public static IReadOnlyList<TinyComponentSpec> ForLumina(int crossAttentionDim)
        => [Gemma("text_encoder", hiddenSize: crossAttentionDim)];

    private static TinyComponentSpec Clip(string folder, bool withProjection, int hiddenSize, int heads, int projectionDim,
        int vocabSize, string activation, int eosTokenId)
    {
        string cls = withProjection ? ClipTextConfig.WithProjectionClass : ClipTextConfig.TextModelClass;
        return new(folder, "transformers", cls, Json(new JsonObject
        {
            ["architectures"] = new JsonArray(cls),
            ["bos_token_id"] = eosTokenId == 2 ? 0 : eosTokenId - 1,
            ["eos_token_id"] = eosTokenId,
            ["hidden_act"] = activation,
            ["hidden_size"] = hiddenSize,
            ["intermediate_size"] = 4 * hiddenSize,
            ["layer_norm_eps"] = 1e-5,
            ["max_position_embeddings"] = 77,
            ["model_type"] = "clip_text_model",
            ["num_attention_heads"] = heads,
            ["num_hidden_layers"] = 2,
            ["pad_token_id"] = 1,
            ["projection_dim"] = projectionDim,
            ["vocab_size"] = vocabSize,
        }));
    }

    /// <summary>
    /// Gemma stores its norm weights centred on 0 (the gain is 1 + w), so the generic 1 + N(0, 0.1) norm rule
    /// would double every gain: the generated values (still from the source's own seed) are shifted down by 1,
    /// an effective gain of 1 + N(0, 0.1) as in every other tiny model.
    /// </summary>
    private static void CenteredGemmaNorms(RandomWeightSource source, JsonConfig json)
    {
        var config = GemmaConfig.From(json);
        var cpu = new CpuBackend();
        var shape = new Shape(config.HiddenSize);
        void Center(string name)
        {
            float[] generated = cpu.Download(source.Load(name, shape, cpu));
            source.Add(name, shape, Array.ConvertAll(generated, v => v - 1f));
        }
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            Center($"layers.{i}.input_layernorm.weight");
            Center($"layers.{i}.post_attention_layernorm.weight");
        }
        Center("norm.weight");
    }

    /// <summary>config.json as transformers' save_pretrained writes it: sorted keys, with the dtype and version stamps.</summary>
    private static string Json(JsonObject config)
    {
        config["torch_dtype"] = "float32";
        config["transformers_version"] = "4.45.0.dev0";
        var sorted = new JsonObject();
        foreach (var (key, value) in config.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            sorted[key] = value?.DeepClone();
        return sorted.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
