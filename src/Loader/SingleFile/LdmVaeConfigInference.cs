using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// The <c>AutoencoderKL</c> config of the VAE in a Stability AI single file (<c>first_stage_model.*</c>), from its
/// tensors: latent channels (<c>decoder.conv_in</c> inputs), block widths (each decoder level's first resnet), resnets per
/// block (the finest decoder level's resnets − 1), in / out channels, quant convs, the mid-block attention. Two fields
/// leave no trace in the weights and are the published values of the pipeline's VAE: <c>norm_num_groups</c> 32 and, for 16
/// latent channels, <c>scaling_factor</c> / <c>shift_factor</c> (SD3: 1.5305 / 0.0609, stabilityai/stable-diffusion-3*-*/vae/config.json;
/// FLUX.1: 0.3611 / 0.1159, black-forest-labs/FLUX.1-*/vae/config.json — the two VAEs share the architecture, so only the
/// pipeline tells them apart); give the VAE's config.json through <c>--components DIR</c> for any other VAE.
/// </summary>
public static class LdmVaeConfigInference
{
    public const int PublishedNormGroups = 32;

    /// <summary>The latent scaling of a 16-channel VAE as one pipeline publishes it.</summary>
    public sealed record PublishedFactors(string Model, double ScalingFactor, double ShiftFactor);

    public static PublishedFactors Sd3Factors { get; } = new("SD3", 1.5305, 0.0609);

    public static PublishedFactors FluxFactors { get; } = new("FLUX.1", 0.3611, 0.1159);

    /// <param name="prefix">Where the VAE's keys start (<see cref="LdmVaeKeyMap.Prefix"/> in an SD3 file, "" in a VAE file).</param>
    /// <param name="factors">The published latent scaling of the pipeline the VAE serves (default SD3's).</param>
    public static Dictionary<string, object?> Infer(IReadOnlyDictionary<string, SafeTensorInfo> tensors, string source,
        string prefix = LdmVaeKeyMap.Prefix, PublishedFactors? factors = null)
    {
        string p = prefix;
        factors ??= Sd3Factors;
        long Dim(string key, int axis)
        {
            if (!tensors.TryGetValue(p + key, out var t) || t.Rank <= axis)
                throw new AccelAesException($"{source}: cannot infer the VAE config: tensor '{p + key}' is "
                    + (t is null ? "missing" : $"of shape [{string.Join(", ", t.Shape)}]") + ".");
            return t.Shape[axis];
        }

        int levels = LdmVaeKeyMap.DecoderLevels(tensors.Keys, p);
        if (levels == 0) throw new AccelAesException($"{source}: the VAE{(p.Length == 0 ? "" : $" under '{p}'")} has no 'decoder.up.N.*' tensors.");
        var widths = new int[levels];
        for (int i = 0; i < levels; i++) widths[i] = checked((int)Dim($"decoder.up.{i}.block.0.conv2.weight", 0));
        int resnets = tensors.Keys.Count(k => k.StartsWith($"{p}decoder.up.0.block.", StringComparison.Ordinal) && k.EndsWith(".conv1.weight", StringComparison.Ordinal));
        long latent = Dim("decoder.conv_in.weight", 1);
        bool published = latent == 16;
        return new Dictionary<string, object?>
        {
            ["_class_name"] = AutoencoderKLConfig.ClassName,
            ["in_channels"] = tensors.ContainsKey(p + "encoder.conv_in.weight") ? Dim("encoder.conv_in.weight", 1) : 3L,
            ["out_channels"] = Dim("decoder.conv_out.weight", 0),
            ["latent_channels"] = latent,
            ["block_out_channels"] = widths,
            ["layers_per_block"] = (long)(resnets - 1),
            ["norm_num_groups"] = (long)PublishedNormGroups,
            ["down_block_types"] = Enumerable.Repeat("DownEncoderBlock2D", levels).ToArray(),
            ["up_block_types"] = Enumerable.Repeat(AutoencoderKLConfig.UpDecoderBlock, levels).ToArray(),
            ["scaling_factor"] = published ? factors.ScalingFactor : null,
            ["shift_factor"] = published ? factors.ShiftFactor : null,
            ["use_quant_conv"] = tensors.ContainsKey(p + "quant_conv.weight"),
            ["use_post_quant_conv"] = tensors.ContainsKey(p + "post_quant_conv.weight"),
            ["mid_block_add_attention"] = tensors.ContainsKey(p + "decoder.mid.attn_1.q.weight"),
        };
    }

    /// <summary>
    /// <paramref name="given"/> checked against the tensors field by field, else the inferred config — or none, with the
    /// reason, when a field the weights do not determine has no published value that fits (the VAE is then refused
    /// only if something loads it).
    /// </summary>
    public static (JsonConfig? Config, string Origin) Resolve(Dictionary<string, object?> inferred, JsonConfig? given, string source)
    {
        if (given is null)
        {
            if (inferred["scaling_factor"] is null)
                return (null, $"none: scaling_factor leaves no trace in the weights and is published here only for the 16-channel VAEs of SD3 and FLUX.1 "
                    + $"(this one has {inferred["latent_channels"]}); give vae/config.json with --components DIR");
            if (((int[])inferred["block_out_channels"]!).Any(w => w % PublishedNormGroups != 0))
                return (null, $"none: norm_num_groups leaves no trace in the weights, and the published {PublishedNormGroups} does not divide the block widths "
                    + $"{InferredConfigJson.Format(inferred["block_out_channels"])}; give vae/config.json with --components DIR");
            return (InferredConfigJson.ToConfig(source, inferred), "inferred from tensor shapes");
        }
        if (given.ClassName is { } cls && cls != AutoencoderKLConfig.ClassName)
            throw new AccelAesException($"{given.FilePath}: _class_name '{cls}' is not {AutoencoderKLConfig.ClassName}, the VAE {source} holds.");
        var g = AutoencoderKLConfig.From(given);
        var fromGiven = new Dictionary<string, object?>
        {
            ["out_channels"] = (long)g.OutChannels,
            ["latent_channels"] = (long)g.LatentChannels,
            ["block_out_channels"] = g.BlockOutChannels,
            ["layers_per_block"] = (long)g.LayersPerBlock,
            ["use_post_quant_conv"] = g.UsePostQuantConv,
            ["mid_block_add_attention"] = g.MidBlockAddAttention,
        };
        InferredConfigJson.RequireAgreement(fromGiven, inferred, given.FilePath, source);
        return (given, given.FilePath);
    }
}
