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
    /// <summary>The pipeline component name of the diffusion model in every layout.</summary>
    public const string TransformerComponent = "transformer";

    private SingleFileCheckpoint(SafeTensorsSet set, CheckpointFormat format, IReadOnlyDictionary<string, SingleFilePart> parts,
        IReadOnlyList<string> otherComponents)
    {
        Set = set;
        Format = format;
        Parts = parts;
        OtherComponents = otherComponents;
    }

    public SafeTensorsSet Set { get; }

    public string Source => Set.Source;

    public CheckpointFormat Format { get; }

    /// <summary>
    /// The components the file carries, by pipeline component name: always "transformer"; the "vae" and text encoders
    /// ("text_encoder", "text_encoder_2", SD3's "text_encoder_3") an all-in-one file bundles (<see cref="BundledComponents"/>).
    /// </summary>
    public IReadOnlyDictionary<string, SingleFilePart> Parts { get; }

    public SingleFilePart Transformer => Parts[TransformerComponent];

    /// <summary>The transformer's model class.</summary>
    public string ClassName => Transformer.ClassName;

    /// <summary>The transformer's tensors: diffusers name → view.</summary>
    public IReadOnlyDictionary<string, MappedTensor> Tensors => Transformer.Tensors;

    /// <summary>Transformer keys (prefix removed) that no mapping rule consumed: a file that does not match its layout.</summary>
    public IReadOnlyList<string> Unconsumed => Transformer.Unconsumed;

    /// <summary>
    /// Keys that are neither the transformer's nor a bundled component's, not loaded from the file: in a prefixed FLUX
    /// (ComfyUI "all-in-one") file the keys outside <c>model.diffusion_model.</c> and every <see cref="BundledComponents"/>
    /// prefix (CLIP's <c>logit_scale</c>, a VAE under another prefix); <c>text_encoders.*</c> keys of no encoder the
    /// pipeline has. They are not leftovers of the transformer.
    /// </summary>
    public IReadOnlyList<string> OtherComponents { get; }

    /// <summary>The transformer's config.</summary>
    public JsonConfig Config => Transformer.Config!;

    /// <summary>Where <see cref="Config"/> came from: "inferred from tensor shapes" or a config.json path.</summary>
    public string ConfigOrigin => Transformer.ConfigOrigin;

    /// <summary>
    /// Opens <paramref name="path"/>, detects its format, maps its keys and settles each component's config: for the
    /// transformer, the config.json in <paramref name="configFolder"/> when given, else <paramref name="componentConfig"/>'s
    /// (a <c>--components</c> folder's <c>transformer/config.json</c>), else a <c>config.json</c> beside the file naming the
    /// file's model class, else the one inferred from the tensors; for a bundled VAE or text encoder, <paramref name="componentConfig"/>'s,
    /// else the one its tensors give (<see cref="ComponentFileMap"/>). A given config is checked against the tensors.
    /// </summary>
    /// <param name="componentConfig">Component name → its config.json from a components folder, or null when it has none.</param>
    public static SingleFileCheckpoint Open(string path, string? configFolder = null, Func<string, JsonConfig?>? componentConfig = null)
    {
        var set = SafeTensorsSet.OpenFile(path);
        try
        {
            string source = set.Source;
            componentConfig ??= _ => null;
            var stripped = CheckpointFormatDetector.StripPrefix(set.Tensors, source, out bool prefixed);
            var format = CheckpointFormatDetector.Detect(stripped, prefixed, source);
            if (format.Encoding == WeightEncoding.ComfyMixedPrecision)
                ComfyQuantLayers.Check(set, stripped, source);
            var parts = new Dictionary<string, SingleFilePart>(StringComparer.Ordinal);
            IReadOnlyList<string> others = [];
            switch (format.Layout)
            {
                case CheckpointLayout.BflFlux:
                {
                    var result = FluxBflKeyMap.Map(stripped, source);
                    JsonConfig? given = GivenConfig(set.Files[0].Path, configFolder, componentConfig, FluxTransformerConfig.ClassName);
                    var config = FluxConfigInference.Resolve(FluxConfigInference.Infer(stripped, source), given, source);
                    // In a prefixed (ComfyUI) file the transformer is exactly the keys under the prefix; in a plain BFL file every
                    // key but a bundled component's.
                    bool IsTransformerKey(string key) => prefixed
                        ? stripped[key].Name.Contains(CheckpointFormatDetector.ComfyPrefix, StringComparison.Ordinal)
                        : !BundledComponents.IsBundledKey(ComponentSlot.FluxPipeline, key);
                    parts[TransformerComponent] = new SingleFilePart(TransformerComponent, FluxTransformerConfig.ClassName, result.Tensors,
                        result.Unconsumed.Where(IsTransformerKey).ToList(), config, Origin(given));
                    others = BundledComponents.Add(parts, stripped, ComponentSlot.FluxPipeline, source, componentConfig, IsTransformerKey);
                    break;
                }
                case CheckpointLayout.SaiSd3:
                    others = AddSd3Parts(parts, stripped, set.Files[0].Path, configFolder, componentConfig, source);
                    break;
                default:
                {
                    var (mapped, unconsumed) = IdentityMap(stripped, source);
                    JsonConfig config = (configFolder is null ? null : GivenConfig(set.Files[0].Path, configFolder, componentConfig, null))
                        ?? componentConfig(TransformerComponent)
                        ?? throw new AccelAesException(
                            $"{source}: a single file with diffusers names carries no architecture; pass --config DIR with its config.json "
                            + "(or use the diffusers folder it came from).");
                    if (config.ClassName != FluxTransformerConfig.ClassName && config.ClassName != Sd3TransformerConfig.ClassName)
                        throw new AccelAesException(
                            $"{config.FilePath}: _class_name '{config.ClassName}' is not {FluxTransformerConfig.ClassName} or {Sd3TransformerConfig.ClassName}; "
                            + "only FLUX.1 and SD3 transformers load from a single file so far.");
                    parts[TransformerComponent] = new SingleFilePart(TransformerComponent, config.ClassName!, mapped, unconsumed, config, config.FilePath);
                    break;
                }
            }
            return new SingleFileCheckpoint(set, format, parts, others);
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens a component file of a <c>--components</c> folder of single files (a CLIP or T5 text encoder, a VAE) as place
    /// <paramref name="component"/> of <paramref name="pipeline"/> (<see cref="ComponentSlot"/>): its one part is that
    /// component, mapped by <see cref="ComponentFileMap"/>, with <paramref name="componentConfig"/>'s config.json of the place
    /// when there is one, else the config inferred from the tensors.
    /// </summary>
    public static SingleFileCheckpoint OpenComponentFile(string path, string pipeline, string component, Func<string, JsonConfig?>? componentConfig = null)
        => OpenComponentFile(path, ComponentSlot.Require(pipeline, component), (componentConfig ?? (_ => null))(component));

    /// <summary>Opens a component file as the place <paramref name="slot"/> (a pipeline's, or a file run on its own: <see cref="StandaloneComponentFile"/>).</summary>
    public static SingleFileCheckpoint OpenComponentFile(string path, ComponentSlot slot, JsonConfig? given)
    {
        var set = SafeTensorsSet.OpenFile(path);
        try
        {
            var tensors = set.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
            if (ComfyQuantLayers.IsMixedPrecision(tensors))
                ComfyQuantLayers.Check(set, tensors, set.Source);
            var part = ComponentFileMap.Map(tensors, set.Source, slot, given);
            var format = new CheckpointFormat(CheckpointLayout.ComponentFile, "", CheckpointFormatDetector.EncodingOf(tensors), slot.Kind);
            return new SingleFileCheckpoint(set, format, new Dictionary<string, SingleFilePart>(StringComparer.Ordinal) { [slot.Component] = part }, []);
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    /// <summary>The checkpoint a composed component's weights are in: a component file of its pipeline, or a model file.</summary>
    public static SingleFileCheckpoint OpenFor(SingleFileComponent component)
        => component.Pipeline is { } pipeline
            ? OpenComponentFile(component.FilePath, pipeline, component.Component, SingleFileModel.ComponentConfigs(component.ComponentsRoot))
            : Open(component.FilePath, component.ConfigFolder, SingleFileModel.ComponentConfigs(component.ComponentsRoot));

    /// <summary>
    /// The model class of the transformer in <paramref name="path"/>, from its keys alone (no mapping, no config): to check
    /// a components folder is of the same model before configs from it are applied.
    /// </summary>
    public static string TransformerClassOf(string path)
    {
        using var set = SafeTensorsSet.OpenFile(path);
        var stripped = CheckpointFormatDetector.StripPrefix(set.Tensors, set.Source, out bool prefixed);
        return CheckpointFormatDetector.Detect(stripped, prefixed, set.Source).Layout switch
        {
            CheckpointLayout.BflFlux => FluxTransformerConfig.ClassName,
            CheckpointLayout.SaiSd3 => Sd3TransformerConfig.ClassName,
            _ => throw new AccelAesException($"{set.Source}: a single file with diffusers names carries no architecture; "
                + "generate takes single files in BFL (FLUX.1) or Stability AI (SD3 / SD3.5) layout."),
        };
    }

    /// <returns>The keys of no component the SD3 pipeline has (<c>text_encoders.*</c> outside its encoders): not loaded from the file.</returns>
    private static IReadOnlyList<string> AddSd3Parts(Dictionary<string, SingleFilePart> parts, IReadOnlyDictionary<string, SafeTensorInfo> stripped, string filePath,
        string? configFolder, Func<string, JsonConfig?> componentConfig, string source)
    {
        var (transformer, unconsumed) = Sd3SaiKeyMap.Map(stripped, source);
        JsonConfig? given = GivenConfig(filePath, configFolder, componentConfig, Sd3TransformerConfig.ClassName);
        var config = Sd3ConfigInference.Resolve(Sd3ConfigInference.Infer(stripped, source), given, source);
        parts[TransformerComponent] = new SingleFilePart(TransformerComponent, Sd3TransformerConfig.ClassName, transformer, unconsumed, config, Origin(given));

        return BundledComponents.Add(parts, stripped, ComponentSlot.Sd3Pipeline, source, componentConfig, Sd3SaiKeyMap.IsTransformerKey);
    }

    private static string Origin(JsonConfig? given) => given is null ? "inferred from tensor shapes" : given.FilePath;

    /// <summary>
    /// The float32 values of a view: each part decoded exactly (fp8 included) in order, then multiplied by the scale
    /// in float32 (ComfyUI: <c>weight.to(float32) * scale_weight</c>).
    /// </summary>
    public void ReadFloat32(MappedTensor tensor, Span<float> destination)
    {
        if (destination.Length != tensor.ElementCount)
            throw new ArgumentException($"{tensor.Name} has {tensor.ElementCount} elements, the destination {destination.Length}.");
        if (tensor.IsIdentity)
        {
            destination.Clear();
            long n = tensor.Shape[0];
            for (long i = 0; i < n; i++) destination[checked((int)(i * n + i))] = 1f;
            return;
        }
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

    /// <summary>
    /// A transformer config given for the file: <c>--config DIR</c>, else the components folder's, else a config.json
    /// beside the file when it names <paramref name="beside"/> (the file's model class; null: do not look).
    /// </summary>
    private static JsonConfig? GivenConfig(string filePath, string? configFolder, Func<string, JsonConfig?> componentConfig, string? beside)
    {
        if (configFolder is not null)
        {
            string file = Path.Combine(ModelFolder.RequireFolder(configFolder), "config.json");
            if (!Files.InputFile.Exists(file))
                throw new AccelAesException($"--config: '{Path.GetFullPath(configFolder)}' has no config.json.");
            return JsonConfig.Load(file);
        }
        if (componentConfig(TransformerComponent) is { } fromComponents) return fromComponents;
        if (beside is null) return null;
        string besideFile = Path.Combine(Path.GetDirectoryName(filePath)!, "config.json");
        if (!Files.InputFile.Exists(besideFile)) return null;
        var config = JsonConfig.Load(besideFile);
        return config.ClassName == beside ? config : null;
    }

    private static (IReadOnlyDictionary<string, MappedTensor>, IReadOnlyList<string>) IdentityMap(
        IReadOnlyDictionary<string, SafeTensorInfo> tensors, string source)
    {
        var mapped = new Dictionary<string, MappedTensor>(StringComparer.Ordinal);
        foreach (var (key, t) in tensors)
        {
            if (ComfyQuantLayers.IsQuantisationParameter(key) || ComfyQuantLayers.IsWeightScale(tensors, key))
                continue;
            SafeTensorInfo? scale = null;
            if (key.EndsWith(".weight", StringComparison.Ordinal)
                && tensors.TryGetValue(ComfyQuantLayers.ScaleKeyOf(tensors, key[..^".weight".Length]), out scale))
                ScaleCheck.RequireScalar(scale, scale.Name, source);
            mapped.Add(key, new MappedTensor(key, t.Shape.ToArray(), [new RowSlice(t, 0, t.Rank == 0 ? 1 : t.Shape[0])], scale));
        }
        return (mapped, []);
    }
}
