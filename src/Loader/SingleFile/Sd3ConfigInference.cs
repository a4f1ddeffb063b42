using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// The <c>SD3Transformer2DModel</c> config of a Stability AI single file, from tensor shapes alone (diffusers downloads
/// it from the hub instead): width and patch size (<c>x_embedder.proj.weight</c> [W, C, p, p]), in / out channels, depth
/// (joint blocks), caption width and text width (<c>context_embedder.weight</c>), pooled width (<c>y_embedder</c>),
/// <c>pos_embed_max_size</c> (√ of <c>pos_embed</c>'s positions), dual-attention layers (<c>attn2</c>), qk-norm (<c>ln_q</c>).
/// The head dim is the qk-norm length when the file has one (SD3.5), else the published 64 (every SD3 / SD3.5 model);
/// heads = width / head dim. <c>sample_size</c> leaves no trace in the weights: the published 128 (1024 px).
/// </summary>
public static class Sd3ConfigInference
{
    public const int PublishedHeadDim = 64;
    public const int PublishedSampleSize = 128;

    public static Dictionary<string, object?> Infer(IReadOnlyDictionary<string, SafeTensorInfo> tensors, string source)
    {
        long Dim(string key, int axis)
        {
            if (!tensors.TryGetValue(key, out var t))
                throw new AccelAesException($"{source}: cannot infer the SD3 config: tensor '{key}' is missing.");
            if (t.Rank <= axis)
                throw new AccelAesException($"{source}: cannot infer the SD3 config: tensor '{key}' has shape [{string.Join(", ", t.Shape)}], expected at least {axis + 1} dimension(s).");
            return t.Shape[axis];
        }

        var blocks = Sd3SaiKeyMap.BlockIndices(tensors.Keys);
        Sd3SaiKeyMap.RequireContiguous(blocks, source);
        long width = Dim("x_embedder.proj.weight", 0), patch = Dim("x_embedder.proj.weight", 2);
        if (Dim("x_embedder.proj.weight", 3) != patch)
            throw new AccelAesException($"{source}: tensor 'x_embedder.proj.weight' has a non-square patch {patch}×{Dim("x_embedder.proj.weight", 3)}.");
        bool qkNorm = tensors.ContainsKey("joint_blocks.0.x_block.attn.ln_q.weight");
        long headDim = qkNorm ? Dim("joint_blocks.0.x_block.attn.ln_q.weight", 0) : PublishedHeadDim;
        if (headDim <= 0 || width % headDim != 0)
            throw new AccelAesException(
                $"{source}: the width {width} (x_embedder.proj.weight) is not a multiple of the head dim {headDim} "
                + (qkNorm ? "(the length of joint_blocks.0.x_block.attn.ln_q.weight)" : "(SD3's published head dim; the file has no qk-norm to read it from)")
                + "; pass --config DIR with the transformer's config.json.");
        long positions = Dim("pos_embed", 1);
        long table = (long)Math.Round(Math.Sqrt(positions));
        if (table * table != positions)
            throw new AccelAesException($"{source}: tensor 'pos_embed' has {positions} positions, not a square table.");
        long outRows = Dim("final_layer.linear.weight", 0);
        if (outRows % (patch * patch) != 0)
            throw new AccelAesException($"{source}: tensor 'final_layer.linear.weight' has {outRows} rows, not a multiple of patch² = {patch * patch}.");
        return new Dictionary<string, object?>
        {
            ["_class_name"] = Sd3TransformerConfig.ClassName,
            ["sample_size"] = PublishedSampleSize,
            ["patch_size"] = patch,
            ["in_channels"] = Dim("x_embedder.proj.weight", 1),
            ["num_layers"] = blocks.Count,
            ["attention_head_dim"] = headDim,
            ["num_attention_heads"] = width / headDim,
            ["joint_attention_dim"] = Dim("context_embedder.weight", 1),
            ["caption_projection_dim"] = Dim("context_embedder.weight", 0),
            ["pooled_projection_dim"] = Dim("y_embedder.mlp.0.weight", 1),
            ["out_channels"] = outRows / (patch * patch),
            ["pos_embed_max_size"] = table,
            ["dual_attention_layers"] = Sd3SaiKeyMap.DualAttentionLayers(tensors.Keys),
            ["qk_norm"] = qkNorm ? "rms_norm" : null,
        };
    }

    /// <summary>
    /// <paramref name="given"/> checked field by field against the tensors (so a wrong config is named before any weight
    /// loads), else the inferred config. Without a qk-norm the head split leaves no trace, so a given config's heads and
    /// head dim are checked through their product, the width.
    /// </summary>
    public static JsonConfig Resolve(Dictionary<string, object?> inferred, JsonConfig? given, string source)
    {
        if (given is null) return InferredConfigJson.ToConfig(source, inferred);
        if (given.ClassName is { } cls && cls != Sd3TransformerConfig.ClassName)
            throw new AccelAesException($"{given.FilePath}: _class_name '{cls}' is not {Sd3TransformerConfig.ClassName}, the model {source} holds.");
        var g = Sd3TransformerConfig.From(given);
        bool qkNorm = inferred["qk_norm"] is not null;
        var fromGiven = new Dictionary<string, object?>
        {
            ["patch_size"] = (long)g.PatchSize,
            ["in_channels"] = (long)g.InChannels,
            ["num_layers"] = (long)g.NumLayers,
            ["joint_attention_dim"] = (long)g.JointAttentionDim,
            ["caption_projection_dim"] = (long)g.CaptionProjectionDim,
            ["pooled_projection_dim"] = (long)g.PooledProjectionDim,
            ["out_channels"] = (long)g.OutChannels,
            ["pos_embed_max_size"] = (long)g.PosEmbedMaxSize,
            ["dual_attention_layers"] = g.DualAttentionLayers,
            ["qk_norm"] = g.QkNorm,
        };
        var expected = new Dictionary<string, object?>(inferred);
        if (qkNorm) fromGiven["attention_head_dim"] = (long)g.AttentionHeadDim;
        fromGiven["num_attention_heads × attention_head_dim"] = (long)g.InnerDim;
        expected["num_attention_heads × attention_head_dim"] = (long)inferred["num_attention_heads"]! * (long)inferred["attention_head_dim"]!;
        expected["num_layers"] = Convert.ToInt64(inferred["num_layers"], System.Globalization.CultureInfo.InvariantCulture);
        InferredConfigJson.RequireAgreement(fromGiven, expected, given.FilePath, source);
        return given;
    }
}
