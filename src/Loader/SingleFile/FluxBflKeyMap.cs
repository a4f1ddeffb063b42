using System.Text.RegularExpressions;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// Black Forest Labs' FLUX.1 single-file names → diffusers' <c>FluxTransformer2DModel</c> names, as diffusers'
/// <c>convert_flux_transformer_checkpoint_to_diffusers</c> converts them, except that the width comes from the
/// tensors (<c>img_in.weight</c> rows), not diffusers' constant 3072, so any FLUX-shaped file maps:
/// fused <c>qkv</c> rows are q | k | v (H each); <c>single_blocks.N.linear1</c> rows are q | k | v | mlp (H, H, H, 4H);
/// <c>*_mod.lin</c> / <c>modulation.lin</c> are copied unchanged; <c>final_layer.adaLN_modulation.1</c> swaps its
/// row halves (BFL (shift, scale) → diffusers (scale, shift)). Every result is a <see cref="MappedTensor"/> view.
/// </summary>
public static partial class FluxBflKeyMap
{
    private const string WidthOrigin = "img_in.weight";

    [GeneratedRegex(@"^(double_blocks|single_blocks)\.(\d+)\.")]
    private static partial Regex BlockKey();

    /// <summary>The mapped tensors by diffusers name, and the file keys no mapping consumed.</summary>
    public sealed record Result(IReadOnlyDictionary<string, MappedTensor> Tensors, IReadOnlyList<string> Unconsumed, int Width);

    /// <param name="tensors">Prefix-stripped file tensors (see <see cref="CheckpointFormatDetector.StripPrefix"/>).</param>
    /// <param name="source">The file, for messages.</param>
    /// <exception cref="AccelAesException">A key the layout requires is missing, or a fused tensor's rows do not split (named).</exception>
    public static Result Map(IReadOnlyDictionary<string, SafeTensorInfo> tensors, string source)
    {
        var builder = new KeyMapBuilder(tensors, source, "the BFL FLUX.1 layout");
        SafeTensorInfo imgIn = builder.Require("img_in.weight");
        if (imgIn.Rank != 2)
            throw builder.Bad("img_in.weight", $"has shape [{string.Join(", ", imgIn.Shape)}]; a Linear weight [width, in_channels] was expected");
        long width = imgIn.Shape[0];

        builder.Copy("img_in", "x_embedder");
        builder.Copy("txt_in", "context_embedder");
        builder.Copy("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1");
        builder.Copy("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2");
        builder.Copy("vector_in.in_layer", "time_text_embed.text_embedder.linear_1");
        builder.Copy("vector_in.out_layer", "time_text_embed.text_embedder.linear_2");
        // diffusers: guidance embedder when any key contains "guidance" (FLUX.1-dev); schnell has none.
        if (tensors.Keys.Any(k => k.Contains("guidance", StringComparison.Ordinal)))
        {
            builder.Copy("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1");
            builder.Copy("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2");
        }

        foreach (int i in BlockIndices(tensors.Keys, "double_blocks"))
        {
            string b = $"double_blocks.{i}", t = $"transformer_blocks.{i}";
            builder.Copy($"{b}.img_mod.lin", $"{t}.norm1.linear");
            builder.Copy($"{b}.txt_mod.lin", $"{t}.norm1_context.linear");
            builder.Split($"{b}.img_attn.qkv", width, [($"{t}.attn.to_q", 1), ($"{t}.attn.to_k", 1), ($"{t}.attn.to_v", 1)], WidthOrigin);
            builder.Split($"{b}.txt_attn.qkv", width, [($"{t}.attn.add_q_proj", 1), ($"{t}.attn.add_k_proj", 1), ($"{t}.attn.add_v_proj", 1)], WidthOrigin);
            builder.CopyTensor($"{b}.img_attn.norm.query_norm.scale", $"{t}.attn.norm_q.weight");
            builder.CopyTensor($"{b}.img_attn.norm.key_norm.scale", $"{t}.attn.norm_k.weight");
            builder.CopyTensor($"{b}.txt_attn.norm.query_norm.scale", $"{t}.attn.norm_added_q.weight");
            builder.CopyTensor($"{b}.txt_attn.norm.key_norm.scale", $"{t}.attn.norm_added_k.weight");
            builder.Copy($"{b}.img_mlp.0", $"{t}.ff.net.0.proj");
            builder.Copy($"{b}.img_mlp.2", $"{t}.ff.net.2");
            builder.Copy($"{b}.txt_mlp.0", $"{t}.ff_context.net.0.proj");
            builder.Copy($"{b}.txt_mlp.2", $"{t}.ff_context.net.2");
            builder.Copy($"{b}.img_attn.proj", $"{t}.attn.to_out.0");
            builder.Copy($"{b}.txt_attn.proj", $"{t}.attn.to_add_out");
        }

        foreach (int i in BlockIndices(tensors.Keys, "single_blocks"))
        {
            string b = $"single_blocks.{i}", t = $"single_transformer_blocks.{i}";
            builder.Copy($"{b}.modulation.lin", $"{t}.norm.linear");
            // diffusers' FluxSingleTransformerBlock has mlp_ratio 4: rows q | k | v | mlp = H, H, H, 4H.
            builder.Split($"{b}.linear1", width,
                [($"{t}.attn.to_q", 1), ($"{t}.attn.to_k", 1), ($"{t}.attn.to_v", 1), ($"{t}.proj_mlp", 4)], WidthOrigin);
            builder.CopyTensor($"{b}.norm.query_norm.scale", $"{t}.attn.norm_q.weight");
            builder.CopyTensor($"{b}.norm.key_norm.scale", $"{t}.attn.norm_k.weight");
            builder.Copy($"{b}.linear2", $"{t}.proj_out");
        }

        builder.Copy("final_layer.linear", "proj_out");
        builder.SwapHalves("final_layer.adaLN_modulation.1", "norm_out.linear");
        return new Result(builder.Mapped, builder.Unconsumed(), (int)width);
    }

    /// <summary>The block numbers present (<c>double_blocks.N.*</c>), ascending.</summary>
    public static IReadOnlyList<int> BlockIndices(IEnumerable<string> keys, string kind)
        => keys.Select(k => BlockKey().Match(k)).Where(m => m.Success && m.Groups[1].Value == kind)
            .Select(m => int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)).Distinct().Order().ToList();
}
