using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// A component file (<see cref="ComponentFileKind"/>: <c>clip_l.safetensors</c>, <c>t5xxl_fp16.safetensors</c>, <c>ae.safetensors</c>)
/// run on its own, outside any pipeline (<c>accelaes forward --model FILE</c>). It is mapped exactly as in a folder of single
/// files (<see cref="ComponentFileMap"/>), but as the model the file itself is rather than as a pipeline place: a CLIP file is a
/// <c>CLIPTextModelWithProjection</c> with its own <c>text_projection</c> when it has one (else a <c>CLIPTextModel</c>), or the
/// class a given config.json names. Its config is the given one (checked against the tensors), else the one its tensors give;
/// a VAE's latent scaling leaves no trace in the weights, so a VAE file needs either a config or the pipeline whose published
/// scaling it takes (<see cref="LdmVaeConfigInference.PublishedFactors"/>).
/// </summary>
public static class StandaloneComponentFile
{
    /// <summary>Pipeline names a VAE file's latent scaling can be taken from, and the published factors of each.</summary>
    public static IReadOnlyDictionary<string, LdmVaeConfigInference.PublishedFactors> Pipelines { get; } =
        new Dictionary<string, LdmVaeConfigInference.PublishedFactors>(StringComparer.Ordinal)
        {
            ["flux"] = LdmVaeConfigInference.FluxFactors,
            ["sd3"] = LdmVaeConfigInference.Sd3Factors,
        };

    /// <summary>
    /// The component kind of <paramref name="path"/>, or null when it is a model file (a transformer checkpoint in any layout,
    /// all-in-one files included); a file that is neither is refused with the keys that were looked for and the first keys seen.
    /// </summary>
    public static ComponentFileKind? KindOf(string path)
    {
        using var set = SafeTensorsSet.OpenFile(path);
        var stripped = CheckpointFormatDetector.StripPrefix(set.Tensors, set.Source, out _);
        if (CheckpointFormatDetector.IsTransformer(stripped)) return null;
        var tensors = set.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        return ComponentFileDetector.Detect(tensors) ?? throw new AccelAesException(
            $"{set.Source}: neither a transformer checkpoint ('double_blocks.N' with 'img_in.weight': BFL FLUX.1; 'joint_blocks.N': Stability AI SD3; "
            + $"'transformer_blocks.N' / 'x_embedder.weight': diffusers) nor a component file ('{ComponentFileDetector.ClipMarker}': CLIP text encoder; "
            + $"'{ComponentFileDetector.T5Marker}': T5 encoder; 'decoder.conv_in.weight': LDM VAE); first keys: "
            + $"{string.Join(", ", tensors.Keys.Order(StringComparer.Ordinal).Take(5))}.");
    }

    /// <summary>
    /// Opens the component file <paramref name="path"/> of kind <paramref name="kind"/> with the config.json of
    /// <paramref name="configFolder"/> when given, else its inferred config (a VAE's latent scaling from <paramref name="pipeline"/>,
    /// a key of <see cref="Pipelines"/>). The checkpoint's one part is the component; its config is never null.
    /// </summary>
    public static SingleFileCheckpoint Open(string path, ComponentFileKind kind, string? configFolder, string? pipeline)
    {
        JsonConfig? given = configFolder is null ? null : LoadConfig(configFolder);
        LdmVaeConfigInference.PublishedFactors? factors = null;
        if (pipeline is not null)
        {
            if (kind != ComponentFileKind.LdmVae)
                throw new AccelAesException($"--pipeline {pipeline}: it gives a VAE file's latent scaling; '{Path.GetFullPath(path)}' is {ComponentFileDetector.Describe(kind)}.");
            if (given is not null)
                throw new AccelAesException($"--pipeline {pipeline} and --config: both give the VAE's latent scaling; give one.");
            if (!Pipelines.TryGetValue(pipeline, out factors))
                throw new AccelAesException($"--pipeline: '{pipeline}' is not one of {string.Join(", ", Pipelines.Keys)}.");
        }
        else if (kind == ComponentFileKind.LdmVae && given is null)
            throw new AccelAesException($"'{Path.GetFullPath(path)}' is {ComponentFileDetector.Describe(kind)}: its latent scaling leaves no trace in the weights; "
                + $"give --pipeline {string.Join("|", Pipelines.Keys)} (that pipeline's published VAE scaling) or --config DIR (a folder with the VAE's config.json).");

        var slot = SlotFor(path, kind, given, factors);
        var checkpoint = SingleFileCheckpoint.OpenComponentFile(path, slot, given);
        var part = checkpoint.Parts[slot.Component];
        if (part.Config is null)
        {
            checkpoint.Dispose();
            // ConfigOrigin says why ("none: <reason>; give … with --components DIR"): keep the reason, name this command's option.
            string reason = part.ConfigOrigin.Split("; give", 2)[0].Replace("none: ", "", StringComparison.Ordinal);
            throw new AccelAesException($"{checkpoint.Source}: the config of {ComponentFileDetector.Describe(kind)} cannot be inferred: {reason}; "
                + "pass --config DIR, a folder with its config.json.");
        }
        return checkpoint;
    }

    private static JsonConfig LoadConfig(string configFolder)
    {
        string file = Path.Combine(ModelFolder.RequireFolder(configFolder), "config.json");
        if (!Files.InputFile.Exists(file))
            throw new AccelAesException($"--config: '{Path.GetFullPath(configFolder)}' has no config.json.");
        return JsonConfig.Load(file);
    }

    /// <summary>The file as a place of its own: its model class from the given config or the file, CLIP's published heads by width.</summary>
    private static ComponentSlot SlotFor(string path, ComponentFileKind kind, JsonConfig? given, LdmVaeConfigInference.PublishedFactors? factors)
    {
        switch (kind)
        {
            case ComponentFileKind.T5Encoder:
                return new ComponentSlot("text_encoder", kind, "T5", T5Config.EncoderModelClass, null, false);
            case ComponentFileKind.LdmVae:
                return new ComponentSlot("vae", kind, "VAE", AutoencoderKLConfig.ClassName, null, false, factors);
        }
        long width;
        bool projection;
        using (var set = SafeTensorsSet.OpenFile(path))
        {
            var tensors = set.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
            width = ComponentFileDetector.ClipWidth(tensors);
            projection = tensors.ContainsKey("text_projection.weight");
        }
        string cls = projection ? ClipTextConfig.WithProjectionClass : ClipTextConfig.TextModelClass;
        if (given is not null)
        {
            cls = given.ClassName ?? cls;
            if (cls != ClipTextConfig.TextModelClass && cls != ClipTextConfig.WithProjectionClass)
                throw new AccelAesException($"{given.FilePath}: model class '{cls}' is not {ClipTextConfig.TextModelClass} or "
                    + $"{ClipTextConfig.WithProjectionClass}, the CLIP text encoder '{Path.GetFullPath(path)}' holds.");
            if (cls == ClipTextConfig.WithProjectionClass && !projection)
                throw new AccelAesException($"{given.FilePath}: {cls} needs text_projection.weight, which '{Path.GetFullPath(path)}' lacks.");
        }
        // The published widths carry the published heads and activation (TextEncoderFileConfigInference); any other needs its config.
        var (label, published) = width switch { 768 => ("CLIP-L", (int?)768), 1280 => ("CLIP-G", (int?)1280), _ => ("CLIP", (int?)null) };
        return new ComponentSlot("text_encoder", kind, label, cls, published, false);
    }
}
