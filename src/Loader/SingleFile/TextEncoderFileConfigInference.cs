using System.Text.RegularExpressions;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// The transformers configs of the text encoder files of a <c>--components</c> folder of single files, from their tensors.
/// T5: every field but <c>relative_attention_max_distance</c> (T5 v1.1's published 128) and <c>layer_norm_epsilon</c> (1e-6)
/// shows in the shapes — heads are the columns of <c>relative_attention_bias</c>. CLIP: widths, depth, vocabulary and
/// positions show; the heads and the activation do not, so they are the published encoder's of that place (CLIP-L 768:
/// 12 heads, quick_gelu; CLIP-G 1280: 20 heads, gelu — openai/clip-vit-large-patch14 and the SD3 / FLUX.1 repos'
/// text_encoder configs) and another width needs its config.json. The token ids are the published configs' (bos 0,
/// eos 2, pad 1: eos 2 selects transformers' argmax pooling, the pooling both published encoders are run with).
/// </summary>
public static partial class TextEncoderFileConfigInference
{
    public const int PublishedT5MaxDistance = 128;

    [GeneratedRegex(@"^text_model\.encoder\.layers\.(\d+)\.")]
    private static partial Regex ClipLayer();

    [GeneratedRegex(@"^encoder\.block\.(\d+)\.")]
    private static partial Regex T5Block();

    private static long Dim(IReadOnlyDictionary<string, SafeTensorInfo> tensors, string key, int axis, string source, string what)
    {
        if (!tensors.TryGetValue(key, out var t) || t.Rank <= axis)
            throw new AccelAesException($"{source}: cannot infer the {what} config: tensor '{key}' is "
                + (t is null ? "missing" : $"of shape [{string.Join(", ", t.Shape)}]") + ".");
        return t.Shape[axis];
    }

    private static int Count(IEnumerable<string> keys, Regex pattern)
        => keys.Select(k => pattern.Match(k)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(-1).Max() + 1;

    /// <summary>The fields of a CLIP text encoder file's config, for <paramref name="slot"/> (its class and published heads / activation).</summary>
    public static Dictionary<string, object?> InferClip(IReadOnlyDictionary<string, SafeTensorInfo> tensors, string source, ComponentSlot slot)
    {
        string what = $"{slot.Label} text encoder";
        long width = Dim(tensors, ComponentFileDetector.ClipMarker, 1, source, what);
        bool published = slot.PublishedWidth == width;
        long projection = slot.IdentityProjection || !tensors.ContainsKey("text_projection.weight")
            ? width : Dim(tensors, "text_projection.weight", 0, source, what);
        return new Dictionary<string, object?>
        {
            ["architectures"] = new[] { slot.ClassName },
            ["model_type"] = "clip_text_model",
            ["vocab_size"] = Dim(tensors, ComponentFileDetector.ClipMarker, 0, source, what),
            ["hidden_size"] = width,
            ["intermediate_size"] = Dim(tensors, "text_model.encoder.layers.0.mlp.fc1.weight", 0, source, what),
            ["num_hidden_layers"] = (long)Count(tensors.Keys, ClipLayer()),
            ["max_position_embeddings"] = Dim(tensors, "text_model.embeddings.position_embedding.weight", 0, source, what),
            ["projection_dim"] = projection,
            ["num_attention_heads"] = published ? width / 64 : null,
            ["hidden_act"] = published ? (slot.Label == "CLIP-L" ? "quick_gelu" : "gelu") : null,
            ["layer_norm_eps"] = 1e-5,
            ["bos_token_id"] = 0L,
            ["eos_token_id"] = 2L,
            ["pad_token_id"] = 1L,
        };
    }

    /// <summary>The fields of a T5 encoder file's config.</summary>
    public static Dictionary<string, object?> InferT5(IReadOnlyDictionary<string, SafeTensorInfo> tensors, string source)
    {
        const string what = "T5 encoder";
        const string attention = "encoder.block.0.layer.0.SelfAttention.";
        string embedding = tensors.ContainsKey("shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight";
        long heads = Dim(tensors, attention + "relative_attention_bias.weight", 1, source, what);
        long inner = Dim(tensors, attention + "q.weight", 0, source, what);
        if (heads <= 0 || inner % heads != 0)
            throw new AccelAesException($"{source}: cannot infer the {what} config: {inner} attention rows do not split into the {heads} heads of relative_attention_bias.");
        bool gated = tensors.ContainsKey("encoder.block.0.layer.1.DenseReluDense.wi_0.weight");
        return new Dictionary<string, object?>
        {
            ["architectures"] = new[] { T5Config.EncoderModelClass },
            ["model_type"] = "t5",
            ["vocab_size"] = Dim(tensors, embedding, 0, source, what),
            ["d_model"] = Dim(tensors, embedding, 1, source, what),
            ["num_layers"] = (long)Count(tensors.Keys, T5Block()),
            ["num_heads"] = heads,
            ["d_kv"] = inner / heads,
            ["d_ff"] = Dim(tensors, gated ? "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" : "encoder.block.0.layer.1.DenseReluDense.wi.weight", 0, source, what),
            ["relative_attention_num_buckets"] = Dim(tensors, attention + "relative_attention_bias.weight", 0, source, what),
            ["relative_attention_max_distance"] = (long)PublishedT5MaxDistance,
            ["feed_forward_proj"] = gated ? "gated-gelu" : "relu",
            ["layer_norm_epsilon"] = 1e-6,
        };
    }

    /// <summary>
    /// <paramref name="given"/> (the components folder's config.json of that place) checked against the tensors field by
    /// field, else the inferred config — or none, with the reason, when a field the weights do not show has no published
    /// value for this width.
    /// </summary>
    public static (JsonConfig? Config, string Origin) Resolve(ComponentSlot slot, Dictionary<string, object?> inferred, JsonConfig? given, string source)
    {
        if (given is null)
        {
            if (inferred.TryGetValue("num_attention_heads", out var heads) && heads is null)
                return (null, $"none: a CLIP text encoder's heads and activation leave no trace in the weights, and this one's width "
                    + $"{inferred["hidden_size"]} is not the published {slot.Label}'s {slot.PublishedWidth}; give {slot.Component}/config.json in --components DIR");
            return (InferredConfigJson.ToConfig(source, inferred), "inferred from tensor shapes");
        }
        Dictionary<string, object?> fromGiven;
        if (slot.Kind == ComponentFileKind.T5Encoder)
        {
            var g = T5Config.From(given);
            fromGiven = new Dictionary<string, object?>
            {
                ["vocab_size"] = (long)g.VocabSize, ["d_model"] = (long)g.DModel, ["num_layers"] = (long)g.NumLayers, ["num_heads"] = (long)g.NumHeads,
                ["d_kv"] = (long)g.DKv, ["d_ff"] = (long)g.DFf, ["relative_attention_num_buckets"] = (long)g.RelativeAttentionNumBuckets,
            };
        }
        else
        {
            var g = ClipTextConfig.From(given);
            fromGiven = new Dictionary<string, object?>
            {
                ["vocab_size"] = (long)g.VocabSize, ["hidden_size"] = (long)g.HiddenSize, ["intermediate_size"] = (long)g.IntermediateSize,
                ["num_hidden_layers"] = (long)g.NumHiddenLayers, ["max_position_embeddings"] = (long)g.MaxPositionEmbeddings,
            };
        }
        InferredConfigJson.RequireAgreement(fromGiven, inferred, given.FilePath, source);
        return (given, given.FilePath);
    }
}
