using System.Text.RegularExpressions;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// Stability AI's SD3 / SD3.5 MMDiT names (<c>sd3_medium.safetensors</c>, <c>sd3.5_large.safetensors</c>, keys under
/// <c>model.diffusion_model.</c>, removed before this map) → diffusers' <c>SD3Transformer2DModel</c> names, as diffusers'
/// <c>convert_sd3_transformer_checkpoint_to_diffusers</c> converts them (huggingface/diffusers
/// src/diffusers/loaders/single_file_utils.py at 58eb52c0803ea9af3abec60841c2a093bdf1f951, read, not copied):
/// fused <c>attn.qkv</c> rows are q | k | v (width each, the width read from <c>x_embedder.proj.weight</c>);
/// <c>ln_q</c> / <c>ln_k</c> are the qk RMSNorms; SD3.5-Medium's <c>x_block.attn2</c> is the dual attention of the blocks
/// that have it; the last block's context branch keeps only its qkv, norms and modulation, whose (shift, scale) halves are
/// swapped as the final layer's are. Every result is a <see cref="MappedTensor"/> view.
/// </summary>
public static partial class Sd3SaiKeyMap
{
    private const string Layout = "the Stability AI SD3 / SD3.5 layout";
    private const string WidthOrigin = "x_embedder.proj.weight";

    [GeneratedRegex(@"^joint_blocks\.(\d+)\.")]
    private static partial Regex BlockKey();

    /// <summary>Whether a prefix-stripped key belongs to the MMDiT (not the bundled VAE or text encoders).</summary>
    public static bool IsTransformerKey(string key)
        => !key.StartsWith(LdmVaeKeyMap.Prefix, StringComparison.Ordinal) && !key.StartsWith(BundledComponents.TextEncoderPrefix, StringComparison.Ordinal);

    /// <param name="tensors">Prefix-stripped file tensors (see <see cref="CheckpointFormatDetector.StripPrefix"/>).</param>
    /// <returns>The mapped transformer tensors and the transformer keys no rule consumed.</returns>
    /// <exception cref="AccelAesException">A key the layout requires is missing, or a fused tensor's rows do not split (named).</exception>
    public static (IReadOnlyDictionary<string, MappedTensor> Tensors, IReadOnlyList<string> Unconsumed) Map(
        IReadOnlyDictionary<string, SafeTensorInfo> tensors, string source)
    {
        var builder = new KeyMapBuilder(tensors, source, Layout);
        SafeTensorInfo patch = builder.Require(WidthOrigin);
        if (patch.Rank != 4)
            throw builder.Bad(WidthOrigin, $"has shape [{string.Join(", ", patch.Shape)}]; a patch convolution [width, in_channels, p, p] was expected");
        long width = patch.Shape[0];
        IReadOnlyList<int> blocks = BlockIndices(tensors.Keys);
        RequireContiguous(blocks, source);
        // diffusers: qk-norm when any key has "ln_q"; dual attention in the blocks with an "attn2." key.
        bool qkNorm = tensors.Keys.Any(k => IsTransformerKey(k) && k.Contains("ln_q", StringComparison.Ordinal));
        var dual = DualAttentionLayers(tensors.Keys);

        builder.CopyTensor("pos_embed", "pos_embed.pos_embed");
        builder.Copy("x_embedder.proj", "pos_embed.proj");
        builder.Copy("t_embedder.mlp.0", "time_text_embed.timestep_embedder.linear_1");
        builder.Copy("t_embedder.mlp.2", "time_text_embed.timestep_embedder.linear_2");
        builder.Copy("context_embedder", "context_embedder");
        builder.Copy("y_embedder.mlp.0", "time_text_embed.text_embedder.linear_1");
        builder.Copy("y_embedder.mlp.2", "time_text_embed.text_embedder.linear_2");

        foreach (int i in blocks)
        {
            string x = $"joint_blocks.{i}.x_block", c = $"joint_blocks.{i}.context_block", t = $"transformer_blocks.{i}";
            bool last = i == blocks.Count - 1; // context_pre_only: the last block's context stream ends after attention
            builder.Split($"{x}.attn.qkv", width, [($"{t}.attn.to_q", 1), ($"{t}.attn.to_k", 1), ($"{t}.attn.to_v", 1)], WidthOrigin);
            builder.Split($"{c}.attn.qkv", width, [($"{t}.attn.add_q_proj", 1), ($"{t}.attn.add_k_proj", 1), ($"{t}.attn.add_v_proj", 1)], WidthOrigin);
            if (qkNorm)
            {
                builder.CopyTensor($"{x}.attn.ln_q.weight", $"{t}.attn.norm_q.weight");
                builder.CopyTensor($"{x}.attn.ln_k.weight", $"{t}.attn.norm_k.weight");
                builder.CopyTensor($"{c}.attn.ln_q.weight", $"{t}.attn.norm_added_q.weight");
                builder.CopyTensor($"{c}.attn.ln_k.weight", $"{t}.attn.norm_added_k.weight");
            }
            builder.Copy($"{x}.attn.proj", $"{t}.attn.to_out.0");
            if (!last) builder.Copy($"{c}.attn.proj", $"{t}.attn.to_add_out");
            if (dual.Contains(i))
            {
                builder.Split($"{x}.attn2.qkv", width, [($"{t}.attn2.to_q", 1), ($"{t}.attn2.to_k", 1), ($"{t}.attn2.to_v", 1)], WidthOrigin);
                if (qkNorm)
                {
                    builder.CopyTensor($"{x}.attn2.ln_q.weight", $"{t}.attn2.norm_q.weight");
                    builder.CopyTensor($"{x}.attn2.ln_k.weight", $"{t}.attn2.norm_k.weight");
                }
                builder.Copy($"{x}.attn2.proj", $"{t}.attn2.to_out.0");
            }
            builder.Copy($"{x}.adaLN_modulation.1", $"{t}.norm1.linear");
            if (last) builder.SwapHalves($"{c}.adaLN_modulation.1", $"{t}.norm1_context.linear");
            else builder.Copy($"{c}.adaLN_modulation.1", $"{t}.norm1_context.linear");
            builder.Copy($"{x}.mlp.fc1", $"{t}.ff.net.0.proj");
            builder.Copy($"{x}.mlp.fc2", $"{t}.ff.net.2");
            if (!last)
            {
                builder.Copy($"{c}.mlp.fc1", $"{t}.ff_context.net.0.proj");
                builder.Copy($"{c}.mlp.fc2", $"{t}.ff_context.net.2");
            }
        }

        builder.Copy("final_layer.linear", "proj_out");
        builder.SwapHalves("final_layer.adaLN_modulation.1", "norm_out.linear");
        return (builder.Mapped, builder.Unconsumed(tensors.Keys.Where(IsTransformerKey)));
    }

    /// <summary>The joint block numbers present, ascending.</summary>
    public static IReadOnlyList<int> BlockIndices(IEnumerable<string> keys)
        => keys.Select(k => BlockKey().Match(k)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).Distinct().Order().ToList();

    /// <summary>The blocks with an <c>x_block.attn2</c> (diffusers' <c>get_attn2_layers</c>), ascending.</summary>
    public static int[] DualAttentionLayers(IEnumerable<string> keys)
        => keys.Where(k => k.Contains(".attn2.", StringComparison.Ordinal)).Select(k => BlockKey().Match(k)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).Distinct().Order().ToArray();

    internal static void RequireContiguous(IReadOnlyList<int> indices, string source)
    {
        if (indices.Count == 0)
            throw new AccelAesException($"{source}: {Layout} has no 'joint_blocks.N.*' tensors.");
        for (int i = 0; i < indices.Count; i++)
            if (indices[i] != i)
                throw new AccelAesException($"{source}: 'joint_blocks.{i}.*' is missing (the file has joint_blocks {string.Join(", ", indices)}).");
    }
}
