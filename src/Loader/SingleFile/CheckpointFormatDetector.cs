using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// Recognises a transformer checkpoint's format from its keys and dtypes alone (no config, no hub), and gives the
/// keys with the ComfyUI / SAI prefix removed.
/// </summary>
public static class CheckpointFormatDetector
{
    /// <summary>ComfyUI's and Stability AI's prefix of diffusion-model keys.</summary>
    public const string ComfyPrefix = "model.diffusion_model.";

    /// <summary>ComfyUI's empty marker tensor of a scaled-fp8 file.</summary>
    public const string ScaledFp8Marker = "scaled_fp8";

    /// <summary>Suffix of ComfyUI's per-tensor fp8 scale.</summary>
    public const string ScaleWeightSuffix = ".scale_weight";

    /// <summary>
    /// Keys with <see cref="ComfyPrefix"/> removed wherever it occurs, as diffusers does (<c>k.replace(prefix, "")</c>:
    /// a substring test, not only a prefix test). Two keys that become one are an error naming both.
    /// </summary>
    public static Dictionary<string, SafeTensorInfo> StripPrefix(IEnumerable<SafeTensorInfo> tensors, string source, out bool prefixed)
    {
        var result = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
        prefixed = false;
        foreach (var t in tensors)
        {
            string key = t.Name;
            if (key.Contains(ComfyPrefix, StringComparison.Ordinal))
            {
                key = key.Replace(ComfyPrefix, "", StringComparison.Ordinal);
                prefixed = true;
            }
            if (!result.TryAdd(key, t))
                throw new AccelAesException(
                    $"{source}: tensors '{result[key].Name}' and '{t.Name}' both name '{key}' once the '{ComfyPrefix}' prefix is removed.");
        }
        return result;
    }

    /// <summary>The format of a file whose (prefix-stripped) tensors are <paramref name="tensors"/>.</summary>
    /// <exception cref="AccelAesException">The keys match no supported layout; the message says what was seen.</exception>
    public static CheckpointFormat Detect(IReadOnlyDictionary<string, SafeTensorInfo> tensors, bool prefixed, string source)
    {
        CheckpointLayout layout;
        if (tensors.Keys.Any(k => k.StartsWith("double_blocks.", StringComparison.Ordinal) || k.StartsWith("single_blocks.", StringComparison.Ordinal))
            && tensors.ContainsKey("img_in.weight"))
            layout = CheckpointLayout.BflFlux;
        else if (tensors.Keys.Any(k => k.StartsWith("joint_blocks.", StringComparison.Ordinal)))
            layout = CheckpointLayout.SaiSd3;
        else if (tensors.ContainsKey("x_embedder.weight") || tensors.Keys.Any(k => k.StartsWith("transformer_blocks.", StringComparison.Ordinal)))
            layout = CheckpointLayout.Diffusers;
        else
            throw new AccelAesException(
                $"{source}: not a recognised transformer checkpoint: no 'double_blocks.N' / 'single_blocks.N' with 'img_in.weight' (BFL FLUX.1), "
                + $"no 'joint_blocks.N' (Stability AI SD3 / SD3.5) and no 'transformer_blocks.N' / 'x_embedder.weight' (diffusers); first keys: {string.Join(", ", tensors.Keys.Order(StringComparer.Ordinal).Take(5))}.");

        return new CheckpointFormat(layout, prefixed ? ComfyPrefix : "", EncodingOf(tensors));
    }

    /// <summary>Whether the (prefix-stripped) keys are those of a transformer checkpoint in any layout <see cref="Detect"/> knows.</summary>
    public static bool IsTransformer(IReadOnlyDictionary<string, SafeTensorInfo> tensors)
        => (tensors.Keys.Any(k => k.StartsWith("double_blocks.", StringComparison.Ordinal) || k.StartsWith("single_blocks.", StringComparison.Ordinal))
                && tensors.ContainsKey("img_in.weight"))
            || tensors.Keys.Any(k => k.StartsWith("joint_blocks.", StringComparison.Ordinal))
            || tensors.ContainsKey("x_embedder.weight") || tensors.Keys.Any(k => k.StartsWith("transformer_blocks.", StringComparison.Ordinal));

    /// <summary>
    /// How the file stores its weights: ComfyUI mixed precision (any <c>comfy_quant</c> layer), scaled fp8 (a marker or any
    /// <c>scale_weight</c>), plain fp8, or float.
    /// </summary>
    public static WeightEncoding EncodingOf(IReadOnlyDictionary<string, SafeTensorInfo> tensors)
        => ComfyQuantLayers.IsMixedPrecision(tensors) ? WeightEncoding.ComfyMixedPrecision
            : tensors.ContainsKey(ScaledFp8Marker) || tensors.Keys.Any(k => k.EndsWith(ScaleWeightSuffix, StringComparison.Ordinal))
            ? WeightEncoding.ScaledFp8
            : tensors.Values.Any(t => t.DType is SafeTensorDType.F8E4M3 or SafeTensorDType.F8E5M2)
                ? WeightEncoding.Fp8
                : WeightEncoding.Float;
}
