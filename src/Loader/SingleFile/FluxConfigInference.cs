using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// The <c>FluxTransformer2DModel</c> config of a BFL FLUX single file, from tensor shapes alone. diffusers reads
/// none of this from the file (it downloads FLUX.1-dev's config from the hub); our users have no hub, so every
/// dimension that shapes determine is read here: width (img_in rows), head dim (the qk RMSNorm length), heads
/// (width / head dim), block counts, in / out channels, text and pooled widths, the guidance embedder. Only the
/// rotary split <c>axes_dims_rope</c> leaves no trace in the weights: it is FLUX.1's published [16, 56, 56] for the
/// published head dim 128, and must come from a config for any other head dim.
/// </summary>
public static class FluxConfigInference
{
    /// <summary>FLUX.1's published rotary axes, for its head dim 128.</summary>
    public static readonly int[] PublishedAxes = [16, 56, 56];
    public const int PublishedHeadDim = 128;

    /// <summary>Inferred fields (diffusers config names → values); <c>axes_dims_rope</c> absent when it cannot be inferred.</summary>
    public static Dictionary<string, object> Infer(IReadOnlyDictionary<string, SafeTensorInfo> tensors, string source)
    {
        long Dim(string key, int axis)
        {
            if (!tensors.TryGetValue(key, out var t))
                throw new AccelAesException($"{source}: cannot infer the FLUX config: tensor '{key}' is missing.");
            if (t.Rank <= axis)
                throw new AccelAesException($"{source}: cannot infer the FLUX config: tensor '{key}' has shape [{string.Join(", ", t.Shape)}], expected at least {axis + 1} dimension(s).");
            return t.Shape[axis];
        }

        var doubles = FluxBflKeyMap.BlockIndices(tensors.Keys, "double_blocks");
        var singles = FluxBflKeyMap.BlockIndices(tensors.Keys, "single_blocks");
        RequireContiguous(doubles, "double_blocks", source);
        RequireContiguous(singles, "single_blocks", source);
        long width = Dim("img_in.weight", 0);
        string normKey = doubles.Count > 0 ? "double_blocks.0.img_attn.norm.query_norm.scale" : "single_blocks.0.norm.query_norm.scale";
        long headDim = Dim(normKey, 0);
        if (headDim <= 0 || width % headDim != 0)
            throw new AccelAesException($"{source}: width {width} (img_in.weight rows) is not a whole number of heads of {headDim} ('{normKey}' length).");

        var config = new Dictionary<string, object>
        {
            ["_class_name"] = FluxTransformerConfig.ClassName,
            ["patch_size"] = 1,
            ["in_channels"] = Dim("img_in.weight", 1),
            ["out_channels"] = Dim("final_layer.linear.weight", 0),
            ["num_layers"] = doubles.Count,
            ["num_single_layers"] = singles.Count,
            ["attention_head_dim"] = headDim,
            ["num_attention_heads"] = width / headDim,
            ["joint_attention_dim"] = Dim("txt_in.weight", 1),
            ["pooled_projection_dim"] = Dim("vector_in.in_layer.weight", 1),
            ["guidance_embeds"] = tensors.Keys.Any(k => k.Contains("guidance", StringComparison.Ordinal)),
        };
        if (headDim == PublishedHeadDim) config["axes_dims_rope"] = PublishedAxes;
        return config;
    }

    /// <summary>
    /// The config to build the model with: <paramref name="given"/> (checked field by field against what the
    /// tensors say, so a wrong config is named before any weight loads), else the inferred one.
    /// </summary>
    /// <exception cref="AccelAesException">A field disagrees with the tensors, or axes_dims_rope cannot be inferred and no config was given.</exception>
    public static JsonConfig Resolve(Dictionary<string, object> inferred, JsonConfig? given, string source)
    {
        if (given is not null)
        {
            if (given.ClassName is { } cls && cls != FluxTransformerConfig.ClassName)
                throw new AccelAesException($"{given.FilePath}: _class_name '{cls}' is not {FluxTransformerConfig.ClassName}, the model {source} holds.");
            var g = FluxTransformerConfig.From(given);
            var fromGiven = new Dictionary<string, object>
            {
                ["in_channels"] = (long)g.InChannels,
                ["out_channels"] = (long)g.OutputTokenWidth,
                ["num_layers"] = g.NumLayers,
                ["num_single_layers"] = g.NumSingleLayers,
                ["attention_head_dim"] = (long)g.AttentionHeadDim,
                ["num_attention_heads"] = (long)g.NumAttentionHeads,
                ["joint_attention_dim"] = (long)g.JointAttentionDim,
                ["pooled_projection_dim"] = (long)g.PooledProjectionDim,
                ["guidance_embeds"] = g.GuidanceEmbeds,
            };
            foreach (var (field, value) in fromGiven)
                if (!Equals(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture),
                        Convert.ToString(inferred[field], System.Globalization.CultureInfo.InvariantCulture)))
                    throw new AccelAesException(
                        $"{given.FilePath}: {field} = {Format(value)}, but the tensors of {source} say {Format(inferred[field])}.");
            return given;
        }
        if (!inferred.ContainsKey("axes_dims_rope"))
            throw new AccelAesException(
                $"{source}: axes_dims_rope (the rotary split of the head) cannot be inferred from tensor shapes for head dim "
                + $"{inferred["attention_head_dim"]} (FLUX.1's head dim {PublishedHeadDim} uses [16, 56, 56]); pass --config DIR with the "
                + "transformer's config.json, or put that config.json beside the file.");
        return InferredConfigJson.ToConfig(source, inferred.ToDictionary(kv => kv.Key, kv => (object?)kv.Value));
    }

    private static string Format(object value) => value is bool b ? (b ? "true" : "false") : Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)!;

    private static void RequireContiguous(IReadOnlyList<int> indices, string kind, string source)
    {
        for (int i = 0; i < indices.Count; i++)
            if (indices[i] != i)
                throw new AccelAesException($"{source}: '{kind}.{i}.*' is missing (the file has {kind} {string.Join(", ", indices)}).");
    }
}
