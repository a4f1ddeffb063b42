using System.Text.RegularExpressions;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.TestSupport;

/// <summary>
/// Writes a FLUX.1 single file in Black Forest Labs' layout from a diffusers <c>FluxTransformer2DModel</c> folder (a tiny
/// one from make-tiny), reverse-mapped by hand here, independently of the production map: q / k / v concatenated into
/// <c>qkv</c>, single blocks' q / k / v / mlp into <c>linear1</c>, the final modulation's halves back in (shift, scale)
/// order. F32 as the tiny models store it, so the file loads back to the folder's tensors bit for bit.
/// </summary>
public static class BflFluxFileWriter
{
    public static void Write(string transformerFolder, string path)
    {
        using var set = SafeTensorsSet.OpenComponent(transformerFolder, "diffusion_pytorch_model", null);
        var used = new HashSet<string>(StringComparer.Ordinal);
        var output = new SortedDictionary<string, (long[] Shape, float[] Values)>(StringComparer.Ordinal);
        (long[], float[]) Take(string name)
        {
            used.Add(name);
            return (set.Get(name).Shape.ToArray(), set.ReadAsFloat32(name));
        }
        void Linear(string bfl, string diffusers)
        {
            output[bfl + ".weight"] = Take(diffusers + ".weight");
            output[bfl + ".bias"] = Take(diffusers + ".bias");
        }
        void Fused(string bfl, params string[] diffusers)
        {
            foreach (string leaf in new[] { ".weight", ".bias" })
            {
                var parts = diffusers.Select(d => Take(d + leaf)).ToList();
                output[bfl + leaf] = ([parts.Sum(p => p.Item1[0]), .. parts[0].Item1.Skip(1)], [.. parts.SelectMany(p => p.Item2)]);
            }
        }
        int Count(string kind) => set.Tensors.Select(t => Regex.Match(t.Name, $@"^{kind}\.(\d+)\.")).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value)).DefaultIfEmpty(-1).Max() + 1;

        Linear("img_in", "x_embedder");
        Linear("txt_in", "context_embedder");
        Linear("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1");
        Linear("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2");
        Linear("vector_in.in_layer", "time_text_embed.text_embedder.linear_1");
        Linear("vector_in.out_layer", "time_text_embed.text_embedder.linear_2");
        if (set.Contains("time_text_embed.guidance_embedder.linear_1.weight"))
        {
            Linear("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1");
            Linear("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2");
        }
        for (int i = 0; i < Count("transformer_blocks"); i++)
        {
            string b = $"double_blocks.{i}", t = $"transformer_blocks.{i}";
            Linear($"{b}.img_mod.lin", $"{t}.norm1.linear");
            Linear($"{b}.txt_mod.lin", $"{t}.norm1_context.linear");
            Fused($"{b}.img_attn.qkv", $"{t}.attn.to_q", $"{t}.attn.to_k", $"{t}.attn.to_v");
            Fused($"{b}.txt_attn.qkv", $"{t}.attn.add_q_proj", $"{t}.attn.add_k_proj", $"{t}.attn.add_v_proj");
            output[$"{b}.img_attn.norm.query_norm.scale"] = Take($"{t}.attn.norm_q.weight");
            output[$"{b}.img_attn.norm.key_norm.scale"] = Take($"{t}.attn.norm_k.weight");
            output[$"{b}.txt_attn.norm.query_norm.scale"] = Take($"{t}.attn.norm_added_q.weight");
            output[$"{b}.txt_attn.norm.key_norm.scale"] = Take($"{t}.attn.norm_added_k.weight");
            Linear($"{b}.img_mlp.0", $"{t}.ff.net.0.proj");
            Linear($"{b}.img_mlp.2", $"{t}.ff.net.2");
            Linear($"{b}.txt_mlp.0", $"{t}.ff_context.net.0.proj");
            Linear($"{b}.txt_mlp.2", $"{t}.ff_context.net.2");
            Linear($"{b}.img_attn.proj", $"{t}.attn.to_out.0");
            Linear($"{b}.txt_attn.proj", $"{t}.attn.to_add_out");
        }
        for (int i = 0; i < Count("single_transformer_blocks"); i++)
        {
            string b = $"single_blocks.{i}", t = $"single_transformer_blocks.{i}";
            Linear($"{b}.modulation.lin", $"{t}.norm.linear");
            Fused($"{b}.linear1", $"{t}.attn.to_q", $"{t}.attn.to_k", $"{t}.attn.to_v", $"{t}.proj_mlp");
            output[$"{b}.norm.query_norm.scale"] = Take($"{t}.attn.norm_q.weight");
            output[$"{b}.norm.key_norm.scale"] = Take($"{t}.attn.norm_k.weight");
            Linear($"{b}.linear2", $"{t}.proj_out");
        }
        Linear("final_layer.linear", "proj_out");
        foreach (string leaf in new[] { ".weight", ".bias" })
        {
            var (shape, values) = Take($"norm_out.linear{leaf}");
            int half = values.Length / 2;
            output[$"final_layer.adaLN_modulation.1{leaf}"] = (shape, [.. values.AsSpan(half).ToArray(), .. values.AsSpan(0, half).ToArray()]);
        }
        var left = set.Tensors.Select(t => t.Name).Where(n => !used.Contains(n)).ToList();
        if (left.Count > 0) throw new InvalidOperationException($"BflFluxFileWriter left tensors unwritten: {string.Join(", ", left)}");
        var writer = new SafeTensorsWriter();
        foreach (var (name, (shape, values)) in output) writer.Add(name, shape, values);
        writer.Save(path);
    }
}
