using System.Text.Json;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// ComfyUI's mixed-precision checkpoints: a quantised Linear <c>&lt;module&gt;</c> carries a <c>&lt;module&gt;.comfy_quant</c>
/// tensor (the bytes of a JSON object such as <c>{"format": "float8_e4m3fn"}</c>) beside its <c>&lt;module&gt;.weight</c>
/// (the codes) and <c>&lt;module&gt;.weight_scale</c>; optionally an activation <c>input_scale</c>. Layers without it stay
/// in their float dtype. The float8 formats' weight is <c>codes.to(float) * weight_scale</c> with one per-tensor scale
/// (ComfyUI comfy/quant_ops.py QUANT_ALGOS and TensorCoreFP8Layout, commit 7f75cc2), which <see cref="MappedTensor.Scale"/>
/// already expresses; the block formats (nvfp4, mxfp8, int8) are refused by name.
/// </summary>
public static class ComfyQuantLayers
{
    /// <summary>Suffix of a layer's quantisation config (JSON as U8 bytes).</summary>
    public const string ConfigSuffix = ".comfy_quant";

    /// <summary>Suffix of a quantised layer's weight scale.</summary>
    public const string WeightScaleSuffix = ".weight_scale";

    /// <summary>Suffix of a layer's activation scale: it only matters to fp8 matmuls of the activations, not to the weight's values.</summary>
    public const string InputScaleSuffix = ".input_scale";

    /// <summary>The formats read, with the dtype their codes must have.</summary>
    private static readonly Dictionary<string, SafeTensorDType> Supported = new(StringComparer.Ordinal)
    {
        ["float8_e4m3fn"] = SafeTensorDType.F8E4M3,
        ["float8_e5m2"] = SafeTensorDType.F8E5M2,
    };

    /// <summary>
    /// True when the (prefix-stripped) keys have any <c>comfy_quant</c> layer or <c>weight_scale</c> (one without its
    /// config is then refused by <see cref="Check"/> rather than decoded without its scale).
    /// </summary>
    public static bool IsMixedPrecision(IReadOnlyDictionary<string, SafeTensorInfo> tensors)
        => tensors.Keys.Any(k => k.EndsWith(ConfigSuffix, StringComparison.Ordinal) || k.EndsWith(WeightScaleSuffix, StringComparison.Ordinal));

    /// <summary>
    /// The key of the scale multiplying <paramref name="module"/>'s weight, if the file has one: <c>weight_scale</c> for a
    /// <c>comfy_quant</c> layer, else the older scaled-fp8 <c>scale_weight</c>.
    /// </summary>
    public static string ScaleKeyOf(IReadOnlyDictionary<string, SafeTensorInfo> tensors, string module)
        => tensors.ContainsKey(module + ConfigSuffix) ? module + WeightScaleSuffix : module + CheckpointFormatDetector.ScaleWeightSuffix;

    /// <summary>Whether <paramref name="key"/> is the scale of a weight (<see cref="ScaleKeyOf"/>), read with that weight.</summary>
    public static bool IsWeightScale(IReadOnlyDictionary<string, SafeTensorInfo> tensors, string key)
        => key.EndsWith(CheckpointFormatDetector.ScaleWeightSuffix, StringComparison.Ordinal)
            || (key.EndsWith(WeightScaleSuffix, StringComparison.Ordinal) && tensors.ContainsKey(key[..^WeightScaleSuffix.Length] + ConfigSuffix));

    /// <summary>
    /// Keys that hold quantisation parameters rather than weights (a layer's config, activation scales, the scaled-fp8
    /// marker): consumed without a tensor. Weight scales are consumed with their weight.
    /// </summary>
    public static bool IsQuantisationParameter(string key)
        => key == CheckpointFormatDetector.ScaledFp8Marker
            || key.EndsWith(ConfigSuffix, StringComparison.Ordinal)
            || key.EndsWith(InputScaleSuffix, StringComparison.Ordinal)
            || key.EndsWith(".scale_input", StringComparison.Ordinal);

    /// <summary>
    /// Reads every layer's <c>comfy_quant</c> config and checks the layer is one this loader reads: a supported format,
    /// a weight of its dtype, one per-tensor <c>weight_scale</c>.
    /// </summary>
    /// <exception cref="AccelAesException">Names the layer and what is wrong (an unsupported format by its name).</exception>
    public static void Check(SafeTensorsSet set, IReadOnlyDictionary<string, SafeTensorInfo> tensors, string source)
    {
        // Some writers list the layers only in the header's _quantization_metadata; the codes would then read unscaled.
        string? orphan = tensors.Keys.Where(k => k.EndsWith(WeightScaleSuffix, StringComparison.Ordinal)
            && !tensors.ContainsKey(k[..^WeightScaleSuffix.Length] + ConfigSuffix)).Order(StringComparer.Ordinal).FirstOrDefault();
        if (orphan is not null)
            throw new AccelAesException(
                $"{source}: '{orphan}' has no '{orphan[..^WeightScaleSuffix.Length]}{ConfigSuffix}' beside it; AccelAes reads ComfyUI mixed-precision "
                + "layers from their comfy_quant tensors, not from the header's _quantization_metadata alone.");
        foreach (var (key, info) in tensors.Where(t => t.Key.EndsWith(ConfigSuffix, StringComparison.Ordinal)).OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            string module = key[..^ConfigSuffix.Length];
            string format = FormatOf(set, info, module, source);
            if (!Supported.TryGetValue(format, out var dtype))
                throw new AccelAesException(
                    $"{source}: layer '{module}' is quantised in ComfyUI format '{format}', which AccelAes does not read "
                    + $"(it reads {string.Join(" and ", Supported.Keys)} layers; use a float or fp8 file of this model).");
            if (!tensors.TryGetValue(module + ".weight", out var weight))
                throw new AccelAesException($"{source}: layer '{module}' has a comfy_quant config ('{format}') but no '{module}.weight'.");
            if (weight.DType != dtype)
                throw new AccelAesException(
                    $"{source}: layer '{module}' is quantised as '{format}', so '{module}.weight' must be {dtype.HeaderName()}, but it is {weight.DType.HeaderName()}.");
            if (!tensors.TryGetValue(module + WeightScaleSuffix, out var scale))
                throw new AccelAesException($"{source}: layer '{module}' is quantised as '{format}' but has no '{module}{WeightScaleSuffix}'.");
            ScaleCheck.RequireScalar(scale, module + WeightScaleSuffix, source);
        }
    }

    private static string FormatOf(SafeTensorsSet set, SafeTensorInfo info, string module, string source)
    {
        string where = $"{source}: layer '{module}': its comfy_quant tensor";
        if (info.DType is not (SafeTensorDType.U8 or SafeTensorDType.I8))
            throw new AccelAesException($"{where} must hold JSON bytes (U8), but it is {info.DType.HeaderName()}.");
        try
        {
            using var json = JsonDocument.Parse(set.GetBytes(info).ToArray());
            if (json.RootElement.ValueKind == JsonValueKind.Object
                && json.RootElement.TryGetProperty("format", out var format) && format.ValueKind == JsonValueKind.String)
                return format.GetString()!;
        }
        catch (JsonException e)
        {
            throw new AccelAesException($"{where} is not JSON: {e.Message}");
        }
        throw new AccelAesException($"{where} has no \"format\" string.");
    }
}
