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
    [GeneratedRegex(@"^(double_blocks|single_blocks)\.(\d+)\.")]
    private static partial Regex BlockKey();

    /// <summary>The mapped tensors by diffusers name, and the file keys no mapping consumed.</summary>
    public sealed record Result(IReadOnlyDictionary<string, MappedTensor> Tensors, IReadOnlyList<string> Unconsumed, int Width);

    /// <param name="tensors">Prefix-stripped file tensors (see <see cref="CheckpointFormatDetector.StripPrefix"/>).</param>
    /// <param name="source">The file, for messages.</param>
    /// <exception cref="AccelAesException">A key the layout requires is missing, or a fused tensor's rows do not split (named).</exception>
    public static Result Map(IReadOnlyDictionary<string, SafeTensorInfo> tensors, string source)
    {
        var builder = new Builder(tensors, source);
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
            builder.Split($"{b}.img_attn.qkv", width, [($"{t}.attn.to_q", 1), ($"{t}.attn.to_k", 1), ($"{t}.attn.to_v", 1)]);
            builder.Split($"{b}.txt_attn.qkv", width, [($"{t}.attn.add_q_proj", 1), ($"{t}.attn.add_k_proj", 1), ($"{t}.attn.add_v_proj", 1)]);
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
                [($"{t}.attn.to_q", 1), ($"{t}.attn.to_k", 1), ($"{t}.attn.to_v", 1), ($"{t}.proj_mlp", 4)]);
            builder.CopyTensor($"{b}.norm.query_norm.scale", $"{t}.attn.norm_q.weight");
            builder.CopyTensor($"{b}.norm.key_norm.scale", $"{t}.attn.norm_k.weight");
            builder.Copy($"{b}.linear2", $"{t}.proj_out");
        }

        builder.Copy("final_layer.linear", "proj_out");
        builder.SwapHalves("final_layer.adaLN_modulation.1", "norm_out.linear");
        return builder.Finish((int)width);
    }

    /// <summary>The block numbers present (<c>double_blocks.N.*</c>), ascending.</summary>
    public static IReadOnlyList<int> BlockIndices(IEnumerable<string> keys, string kind)
        => keys.Select(k => BlockKey().Match(k)).Where(m => m.Success && m.Groups[1].Value == kind)
            .Select(m => int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)).Distinct().Order().ToList();

    private sealed class Builder(IReadOnlyDictionary<string, SafeTensorInfo> tensors, string source)
    {
        private readonly Dictionary<string, MappedTensor> _mapped = new(StringComparer.Ordinal);
        private readonly HashSet<string> _consumed = new(StringComparer.Ordinal);

        public SafeTensorInfo Require(string key)
        {
            if (tensors.TryGetValue(key, out var t)) return t;
            throw new AccelAesException($"{source}: the BFL FLUX.1 layout needs tensor '{key}', which the file lacks"
                + $"{Suggest(key)}.");
        }

        private string Suggest(string key)
        {
            var close = TensorNameSuggestions.Closest(key, tensors.Keys);
            return close.Count == 0 ? "" : $" (closest: {string.Join(", ", close)})";
        }

        public AccelAesException Bad(string key, string problem) => new($"{source}: tensor '{key}' {problem}.");

        /// <summary>A Linear module: weight (with its scale) and bias, renamed.</summary>
        public void Copy(string from, string to)
        {
            CopyTensor(from + ".weight", to + ".weight");
            CopyTensor(from + ".bias", to + ".bias");
        }

        public void CopyTensor(string from, string to)
        {
            var t = Require(from);
            Add(to, t.Shape.ToArray(), [new RowSlice(t, 0, t.Rank == 0 ? 1 : t.Shape[0])], from);
        }

        /// <summary>A fused Linear whose rows are parts of <c>factor × width</c> rows each, weight and bias alike.</summary>
        public void Split(string from, long width, (string To, int Factor)[] parts)
        {
            long expected = parts.Sum(p => p.Factor) * width;
            foreach (string leaf in new[] { ".weight", ".bias" })
            {
                var t = Require(from + leaf);
                long rows = t.Rank == 0 ? 0 : t.Shape[0];
                if (rows != expected)
                    throw Bad(from + leaf, $"has {rows} rows, but splitting it into {string.Join(" | ", parts.Select(p => p.To[(p.To.LastIndexOf('.') + 1)..]))} "
                        + $"needs {string.Join(" + ", parts.Select(p => p.Factor * width))} = {expected} (width {width} from img_in.weight)");
                long first = 0;
                foreach (var (to, factor) in parts)
                {
                    long count = factor * width;
                    Add(to + leaf, [count, .. t.Shape.Skip(1)], [new RowSlice(t, first, count)], from + leaf);
                    first += count;
                }
            }
        }

        /// <summary>[a; b] → [b; a] over dimension 0 (weight and bias).</summary>
        public void SwapHalves(string from, string to)
        {
            foreach (string leaf in new[] { ".weight", ".bias" })
            {
                var t = Require(from + leaf);
                long rows = t.Rank == 0 ? 0 : t.Shape[0];
                if (rows == 0 || rows % 2 != 0)
                    throw Bad(from + leaf, $"has {rows} rows; its (shift, scale) halves need an even, non-zero row count");
                long half = rows / 2;
                Add(to + leaf, t.Shape.ToArray(), [new RowSlice(t, half, half), new RowSlice(t, 0, half)], from + leaf);
            }
        }

        private void Add(string to, long[] shape, RowSlice[] parts, string from)
        {
            SafeTensorInfo? scale = null;
            if (from.EndsWith(".weight", StringComparison.Ordinal))
            {
                string scaleKey = from[..^".weight".Length] + CheckpointFormatDetector.ScaleWeightSuffix;
                if (tensors.TryGetValue(scaleKey, out scale))
                {
                    ScaleCheck.RequireScalar(scale, scaleKey, source);
                    _consumed.Add(scaleKey);
                }
            }
            _mapped.Add(to, new MappedTensor(to, shape, parts, scale));
            _consumed.Add(from);
        }

        public Result Finish(int width)
        {
            // ComfyUI's marker and fp8-matmul input scales carry nothing a dequantised forward uses.
            foreach (string key in tensors.Keys)
                if (key == CheckpointFormatDetector.ScaledFp8Marker || key.EndsWith(".scale_input", StringComparison.Ordinal))
                    _consumed.Add(key);
            var unconsumed = tensors.Keys.Where(k => !_consumed.Contains(k)).Order(StringComparer.Ordinal).ToList();
            return new Result(_mapped, unconsumed, width);
        }
    }
}
