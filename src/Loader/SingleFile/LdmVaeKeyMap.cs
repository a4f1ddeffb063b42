using System.Text.RegularExpressions;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// The VAE a Stability AI single file carries under <c>first_stage_model.</c> (the original LDM layout) → diffusers'
/// <c>AutoencoderKL</c> names, as diffusers' <c>convert_ldm_vae_checkpoint</c> converts them (huggingface/diffusers
/// src/diffusers/loaders/single_file_utils.py at 58eb52c0803ea9af3abec60841c2a093bdf1f951, read, not copied):
/// <c>down.i.block.j</c> → <c>down_blocks.i.resnets.j</c>, <c>up.b.block.j</c> → <c>up_blocks.(n−1−b).resnets.j</c> (LDM numbers
/// decoder levels from the finest, diffusers from the coarsest), <c>mid.block_1|2</c> → <c>mid_block.resnets.0|1</c>,
/// <c>nin_shortcut</c> → <c>conv_shortcut</c>, <c>mid.attn_1.{norm,q,k,v,proj_out}</c> → <c>mid_block.attentions.0.{group_norm,
/// to_q,to_k,to_v,to_out.0}</c> with the 1×1 convolution weights read as Linear matrices (same bytes, shape [C, C]),
/// <c>norm_out</c> → <c>conv_norm_out</c>. Encoder and decoder alike (the engine loads the decoder). The same layout
/// without the prefix is a VAE file of its own (Black Forest Labs' <c>ae.safetensors</c>, ComfyUI's <c>models/vae</c> files).
/// </summary>
public static partial class LdmVaeKeyMap
{
    public const string Prefix = "first_stage_model.";

    [GeneratedRegex(@"^(encoder|decoder)\.(down|up)\.(\d+)\.(block\.(\d+)|downsample|upsample)\.(.+)$")]
    private static partial Regex LevelKey();

    [GeneratedRegex(@"^(encoder|decoder)\.mid\.block_([12])\.(.+)$")]
    private static partial Regex MidResnetKey();

    [GeneratedRegex(@"^(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.(weight|bias)$")]
    private static partial Regex MidAttentionKey();

    /// <summary>Whether the file carries a VAE (any <c>first_stage_model.</c> key).</summary>
    public static bool Present(IEnumerable<string> keys) => keys.Any(k => k.StartsWith(Prefix, StringComparison.Ordinal));

    /// <summary>The number of decoder levels (<c>decoder.up.N</c>) of the VAE under <paramref name="prefix"/>.</summary>
    public static int DecoderLevels(IEnumerable<string> keys, string prefix = Prefix)
        => keys.Select(k => LevelKey().Match(k.StartsWith(prefix, StringComparison.Ordinal) ? k[prefix.Length..] : ""))
            .Where(m => m.Success && m.Groups[1].Value == "decoder").Select(m => int.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture))
            .DefaultIfEmpty(-1).Max() + 1;

    /// <param name="prefix">Where the VAE's keys start: <see cref="Prefix"/> in an SD3 file, "" in a VAE file of its own.</param>
    /// <returns>The mapped VAE tensors and the VAE keys (under <paramref name="prefix"/>) no rule consumed.</returns>
    public static (IReadOnlyDictionary<string, MappedTensor> Tensors, IReadOnlyList<string> Unconsumed) Map(
        IReadOnlyDictionary<string, SafeTensorInfo> tensors, string source, string prefix = Prefix)
    {
        var builder = new KeyMapBuilder(tensors, source, $"the LDM VAE layout ({prefix}encoder.* / {prefix}decoder.*)");
        int levels = DecoderLevels(tensors.Keys, prefix);
        if (levels == 0)
            throw new AccelAesException($"{source}: the VAE{(prefix.Length == 0 ? "" : $" under '{prefix}'")} has no 'decoder.up.N.*' tensors.");
        foreach (string key in tensors.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)))
        {
            string ldm = key[prefix.Length..];
            if (Renamed(ldm, levels) is not { } diffusers) continue; // left unconsumed: reported
            var t = tensors[key];
            if (MidAttentionKey().IsMatch(ldm) && ldm.EndsWith(".weight", StringComparison.Ordinal) && !ldm.Contains(".norm.", StringComparison.Ordinal) && t.Rank > 2)
                builder.CopyReshaped(key, diffusers, [t.Shape[0], t.Shape[1]]);
            else
                builder.CopyTensor(key, diffusers);
        }
        return (builder.Mapped, builder.Unconsumed(tensors.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal))));
    }

    /// <summary>The diffusers name of one LDM VAE key (prefix removed), or null when no rule covers it.</summary>
    private static string? Renamed(string ldm, int levels)
    {
        switch (ldm)
        {
            case "encoder.norm_out.weight": return "encoder.conv_norm_out.weight";
            case "encoder.norm_out.bias": return "encoder.conv_norm_out.bias";
            case "decoder.norm_out.weight": return "decoder.conv_norm_out.weight";
            case "decoder.norm_out.bias": return "decoder.conv_norm_out.bias";
            case "encoder.conv_in.weight" or "encoder.conv_in.bias" or "encoder.conv_out.weight" or "encoder.conv_out.bias"
                or "decoder.conv_in.weight" or "decoder.conv_in.bias" or "decoder.conv_out.weight" or "decoder.conv_out.bias"
                or "quant_conv.weight" or "quant_conv.bias" or "post_quant_conv.weight" or "post_quant_conv.bias":
                return ldm;
        }
        if (LevelKey().Match(ldm) is { Success: true } level)
        {
            string part = level.Groups[1].Value;
            bool up = level.Groups[2].Value == "up";
            if (up != (part == "decoder")) return null; // encoder.up / decoder.down do not exist
            int index = int.Parse(level.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture);
            string blocks = up ? $"up_blocks.{levels - 1 - index}" : $"down_blocks.{index}";
            string rest = level.Groups[6].Value;
            return level.Groups[4].Value switch
            {
                "downsample" => $"{part}.{blocks}.downsamplers.0.{rest}",
                "upsample" => $"{part}.{blocks}.upsamplers.0.{rest}",
                _ => $"{part}.{blocks}.resnets.{level.Groups[5].Value}.{Shortcut(rest)}",
            };
        }
        if (MidResnetKey().Match(ldm) is { Success: true } mid)
            return $"{mid.Groups[1].Value}.mid_block.resnets.{int.Parse(mid.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) - 1}.{Shortcut(mid.Groups[3].Value)}";
        if (MidAttentionKey().Match(ldm) is { Success: true } attn)
        {
            string module = attn.Groups[2].Value switch
            {
                "norm" => "group_norm",
                "q" => "to_q",
                "k" => "to_k",
                "v" => "to_v",
                _ => "to_out.0",
            };
            return $"{attn.Groups[1].Value}.mid_block.attentions.0.{module}.{attn.Groups[3].Value}";
        }
        return null;
    }

    private static string Shortcut(string rest) => rest.Replace("nin_shortcut", "conv_shortcut", StringComparison.Ordinal);
}
