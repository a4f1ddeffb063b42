using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// A transformer checkpoint in one safetensors file as users download it (BFL FLUX.1 layout, optionally with
/// ComfyUI's <c>model.diffusion_model.</c> prefix, F32 / BF16 / fp8 / ComfyUI scaled fp8, or diffusers names),
/// presented under diffusers' names as <see cref="MappedTensor"/> views over the memory map. The file stays
/// mapped until <see cref="Dispose"/>; no tensor is copied before <see cref="ReadFloat32"/> or a zero-copy read asks.
/// </summary>
public sealed class SingleFileCheckpoint : IDisposable
{
    private SingleFileCheckpoint(SafeTensorsSet set, CheckpointFormat format, IReadOnlyDictionary<string, MappedTensor> tensors,
        IReadOnlyList<string> unconsumed, IReadOnlyList<string> otherComponents, JsonConfig config, string configOrigin)
    {
        Set = set;
        Format = format;
        Tensors = tensors;
        Unconsumed = unconsumed;
        OtherComponents = otherComponents;
        Config = config;
        ConfigOrigin = configOrigin;
    }

    public SafeTensorsSet Set { get; }

    public string Source => Set.Source;

    public CheckpointFormat Format { get; }

    /// <summary>The model class the file maps to (FLUX only so far).</summary>
    public string ClassName => FluxTransformerConfig.ClassName;

    /// <summary>Diffusers name → view.</summary>
    public IReadOnlyDictionary<string, MappedTensor> Tensors { get; }

    /// <summary>Transformer keys (prefix removed) that no mapping rule consumed: a file that does not match its layout.</summary>
    public IReadOnlyList<string> Unconsumed { get; }

    /// <summary>
    /// In a prefixed (ComfyUI "all-in-one") file, the keys outside <c>model.diffusion_model.</c>: the VAE and text
    /// encoders bundled beside the transformer, which are not loaded from here (and are not leftovers of the transformer).
    /// </summary>
    public IReadOnlyList<string> OtherComponents { get; }

    /// <summary>The diffusers config the model is built with.</summary>
    public JsonConfig Config { get; }

    /// <summary>Where <see cref="Config"/> came from: "inferred from tensor shapes" or a config.json path.</summary>
    public string ConfigOrigin { get; }

    /// <summary>
    /// Opens <paramref name="path"/>, detects its format, maps its keys and settles the config: the config.json in
    /// <paramref name="configFolder"/> when given, else a <c>config.json</c> beside the file naming
    /// FluxTransformer2DModel, else the one inferred from the tensors. A given config is checked against the tensors.
    /// </summary>
    public static SingleFileCheckpoint Open(string path, string? configFolder = null)
    {
        var set = SafeTensorsSet.OpenFile(path);
        try
        {
            string source = set.Source;
            var stripped = CheckpointFormatDetector.StripPrefix(set.Tensors, source, out bool prefixed);
            var format = CheckpointFormatDetector.Detect(stripped, prefixed, source);
            JsonConfig? given = GivenConfig(set.Files[0].Path, configFolder);
            IReadOnlyDictionary<string, MappedTensor> mapped;
            IReadOnlyList<string> unconsumed;
            JsonConfig config;
            if (format.Layout == CheckpointLayout.BflFlux)
            {
                var result = FluxBflKeyMap.Map(stripped, source);
                (mapped, unconsumed) = (result.Tensors, result.Unconsumed);
                config = FluxConfigInference.Resolve(FluxConfigInference.Infer(stripped, source), given, source);
            }
            else
            {
                (mapped, unconsumed) = IdentityMap(stripped, source);
                config = given ?? throw new AccelAesException(
                    $"{source}: a single file with diffusers names carries no architecture; pass --config DIR with its config.json "
                    + "(or use the diffusers folder it came from).");
                if (config.ClassName != FluxTransformerConfig.ClassName)
                    throw new AccelAesException($"{config.FilePath}: _class_name '{config.ClassName}' is not {FluxTransformerConfig.ClassName}; only FLUX transformers load from a single file so far.");
            }
            string origin = given is null ? "inferred from tensor shapes" : given.FilePath;
            IReadOnlyList<string> others = [];
            if (prefixed)
            {
                bool Outside(string key) => !stripped[key].Name.Contains(CheckpointFormatDetector.ComfyPrefix, StringComparison.Ordinal);
                others = unconsumed.Where(Outside).Select(k => stripped[k].Name).ToList();
                unconsumed = unconsumed.Where(k => !Outside(k)).ToList();
            }
            return new SingleFileCheckpoint(set, format, mapped, unconsumed, others, config, origin);
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The float32 values of a view: each part decoded exactly (fp8 included) in order, then multiplied by the scale
    /// in float32 (ComfyUI: <c>weight.to(float32) * scale_weight</c>).
    /// </summary>
    public void ReadFloat32(MappedTensor tensor, Span<float> destination)
    {
        if (destination.Length != tensor.ElementCount)
            throw new ArgumentException($"{tensor.Name} has {tensor.ElementCount} elements, the destination {destination.Length}.");
        int at = 0;
        foreach (var part in tensor.Parts)
        {
            var info = part.Source;
            if (!DTypeConversion.CanConvertToFloat32(info.DType))
                throw new AccelAesException($"{Source}: tensor '{info.Name}' has dtype {info.DType.HeaderName()}; weights must be F32, F16, BF16, F8_E4M3 or F8_E5M2.");
            long rowBytes = part.RowElements * info.DType.ByteSize();
            int count = checked((int)part.ElementCount);
            var bytes = Set.FileOf(info).GetBytes(info, part.FirstRow * rowBytes, checked((int)(part.RowCount * rowBytes)));
            DTypeConversion.ToFloat32(bytes, info.DType, destination.Slice(at, count));
            at += count;
        }
        if (tensor.Scale is { } scaleInfo)
        {
            float scale = DTypeConversion.ToFloat32(Set.GetBytes(scaleInfo), scaleInfo.DType)[0];
            foreach (ref float v in destination) v *= scale;
        }
    }

    /// <summary>The file bytes of a zero-copy view (<see cref="MappedTensor.IsZeroCopy"/>), straight from the map.</summary>
    public ReadOnlySpan<byte> RawBytes(MappedTensor tensor)
    {
        if (!tensor.IsZeroCopy) throw new InvalidOperationException($"{tensor.Name} is not one contiguous unscaled range.");
        var part = tensor.Parts[0];
        long rowBytes = part.RowElements * part.Source.DType.ByteSize();
        return Set.FileOf(part.Source).GetBytes(part.Source, part.FirstRow * rowBytes, checked((int)(part.RowCount * rowBytes)));
    }

    public void Dispose() => Set.Dispose();

    private static JsonConfig? GivenConfig(string filePath, string? configFolder)
    {
        if (configFolder is not null)
        {
            string file = Path.Combine(ModelFolder.RequireFolder(configFolder), "config.json");
            if (!Files.InputFile.Exists(file))
                throw new AccelAesException($"--config: '{Path.GetFullPath(configFolder)}' has no config.json.");
            return JsonConfig.Load(file);
        }
        string beside = Path.Combine(Path.GetDirectoryName(filePath)!, "config.json");
        if (!Files.InputFile.Exists(beside)) return null;
        var config = JsonConfig.Load(beside);
        return config.ClassName == FluxTransformerConfig.ClassName ? config : null;
    }

    private static (IReadOnlyDictionary<string, MappedTensor>, IReadOnlyList<string>) IdentityMap(
        IReadOnlyDictionary<string, SafeTensorInfo> tensors, string source)
    {
        var mapped = new Dictionary<string, MappedTensor>(StringComparer.Ordinal);
        foreach (var (key, t) in tensors)
        {
            if (key == CheckpointFormatDetector.ScaledFp8Marker || key.EndsWith(CheckpointFormatDetector.ScaleWeightSuffix, StringComparison.Ordinal)
                || key.EndsWith(".scale_input", StringComparison.Ordinal))
                continue;
            SafeTensorInfo? scale = null;
            if (key.EndsWith(".weight", StringComparison.Ordinal)
                && tensors.TryGetValue(key[..^".weight".Length] + CheckpointFormatDetector.ScaleWeightSuffix, out scale))
                ScaleCheck.RequireScalar(scale, scale.Name, source);
            mapped.Add(key, new MappedTensor(key, t.Shape.ToArray(), [new RowSlice(t, 0, t.Rank == 0 ? 1 : t.Shape[0])], scale));
        }
        return (mapped, []);
    }
}
