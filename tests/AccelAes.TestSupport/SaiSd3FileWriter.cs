using System.Text.RegularExpressions;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.TestSupport;

/// <summary>
/// Writes a Stability AI SD3 / SD3.5 single file from a diffusers SD3 pipeline folder (a tiny one from make-tiny) by
/// reverse-mapping it name by name, written here independently of the production map: the MMDiT under
/// <c>model.diffusion_model.</c> with q / k / v concatenated into <c>qkv</c> and the (scale, shift) halves of the last
/// context modulation and the final layer put back in the original (shift, scale) order; the VAE under
/// <c>first_stage_model.</c> in LDM names with its attention as 1×1 convolutions; CLIP-L / CLIP-G under
/// <c>text_encoders.clip_{l,g}.transformer.</c>. Values are copied as F32 (the tiny models' dtype), so loading the file
/// back must give the folder's tensors bit for bit. Every folder tensor of a written component must be consumed.
/// </summary>
public static class SaiSd3FileWriter
{
    public const string Prefix = "model.diffusion_model.";

    /// <summary>Writes <paramref name="path"/>; returns the file's tensor names.</summary>
    /// <param name="edit">Changes the SAI-named tensors before they are written (drop one, reshape one) for the hostile-file tests.</param>
    public static IReadOnlyList<string> Write(string pipelineFolder, string path, bool vae = true, bool textEncoders = false,
        Action<SortedDictionary<string, (long[] Shape, float[] Values)>>? edit = null)
    {
        var tensors = new SortedDictionary<string, (long[] Shape, float[] Values)>(StringComparer.Ordinal);
        Transformer(Path.Combine(pipelineFolder, "transformer"), tensors);
        if (vae) Vae(Path.Combine(pipelineFolder, "vae"), tensors);
        if (textEncoders)
        {
            Copy(Path.Combine(pipelineFolder, "text_encoder"), "model", "text_encoders.clip_l.transformer.", tensors);
            Copy(Path.Combine(pipelineFolder, "text_encoder_2"), "model", "text_encoders.clip_g.transformer.", tensors);
        }
        edit?.Invoke(tensors);
        var writer = new SafeTensorsWriter();
        foreach (var (name, (shape, values)) in tensors) writer.Add(name, shape, values);
        writer.Save(path);
        return [.. tensors.Keys];
    }

    /// <summary>Writes only the MMDiT of a transformer component folder (e.g. the conformance <c>sd3_tiny</c>).</summary>
    public static void WriteTransformer(string transformerFolder, string path)
    {
        var tensors = new SortedDictionary<string, (long[] Shape, float[] Values)>(StringComparer.Ordinal);
        Transformer(transformerFolder, tensors);
        var writer = new SafeTensorsWriter();
        foreach (var (name, (shape, values)) in tensors) writer.Add(name, shape, values);
        writer.Save(path);
    }

    private sealed class Source(string folder, string baseName) : IDisposable
    {
        private readonly SafeTensorsSet _set = SafeTensorsSet.OpenComponent(folder, baseName, null);
        private readonly HashSet<string> _used = new(StringComparer.Ordinal);

        public bool Has(string name) => _set.Contains(name);

        public (long[] Shape, float[] Values) Take(string name)
        {
            _used.Add(name);
            return (_set.Get(name).Shape.ToArray(), _set.ReadAsFloat32(name));
        }

        public IEnumerable<string> Names => _set.Tensors.Select(t => t.Name);

        public void Dispose()
        {
            var left = _set.Tensors.Select(t => t.Name).Where(n => !_used.Contains(n)).ToList();
            _set.Dispose();
            if (left.Count > 0) throw new InvalidOperationException($"SaiSd3FileWriter left tensors unwritten: {string.Join(", ", left)}");
        }
    }

    private static void Copy(string folder, string baseName, string prefix, SortedDictionary<string, (long[], float[])> into)
    {
        using var source = new Source(folder, baseName);
        foreach (string name in source.Names.ToList()) into[prefix + name] = source.Take(name);
    }

    /// <summary>Rows of several [rows, …] tensors one after another (torch.cat over dim 0).</summary>
    private static (long[], float[]) Concat(params (long[] Shape, float[] Values)[] parts)
        => ([parts.Sum(p => p.Shape[0]), .. parts[0].Shape.Skip(1)], [.. parts.SelectMany(p => p.Values)]);

    /// <summary>diffusers (scale, shift) → the original (shift, scale): the two row halves exchanged.</summary>
    private static (long[], float[]) Unswap((long[] Shape, float[] Values) t)
    {
        int half = t.Values.Length / 2;
        return (t.Shape, [.. t.Values.AsSpan(half).ToArray(), .. t.Values.AsSpan(0, half).ToArray()]);
    }

    private static void Transformer(string folder, SortedDictionary<string, (long[], float[])> into)
    {
        using var d = new Source(folder, "diffusion_pytorch_model");
        void Put(string sai, (long[], float[]) value) => into[Prefix + sai] = value;
        void Linear(string sai, string diffusers)
        {
            Put(sai + ".weight", d.Take(diffusers + ".weight"));
            Put(sai + ".bias", d.Take(diffusers + ".bias"));
        }
        void Fused(string sai, string q, string k, string v)
        {
            foreach (string leaf in new[] { ".weight", ".bias" })
                Put(sai + leaf, Concat(d.Take(q + leaf), d.Take(k + leaf), d.Take(v + leaf)));
        }

        Put("pos_embed", d.Take("pos_embed.pos_embed"));
        Linear("x_embedder.proj", "pos_embed.proj");
        Linear("t_embedder.mlp.0", "time_text_embed.timestep_embedder.linear_1");
        Linear("t_embedder.mlp.2", "time_text_embed.timestep_embedder.linear_2");
        Linear("y_embedder.mlp.0", "time_text_embed.text_embedder.linear_1");
        Linear("y_embedder.mlp.2", "time_text_embed.text_embedder.linear_2");
        Linear("context_embedder", "context_embedder");
        int blocks = d.Names.Select(n => Regex.Match(n, @"^transformer_blocks\.(\d+)\.")).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value)).Max() + 1;
        for (int i = 0; i < blocks; i++)
        {
            string t = $"transformer_blocks.{i}", x = $"joint_blocks.{i}.x_block", c = $"joint_blocks.{i}.context_block";
            Fused($"{x}.attn.qkv", $"{t}.attn.to_q", $"{t}.attn.to_k", $"{t}.attn.to_v");
            Fused($"{c}.attn.qkv", $"{t}.attn.add_q_proj", $"{t}.attn.add_k_proj", $"{t}.attn.add_v_proj");
            if (d.Has($"{t}.attn.norm_q.weight"))
            {
                Put($"{x}.attn.ln_q.weight", d.Take($"{t}.attn.norm_q.weight"));
                Put($"{x}.attn.ln_k.weight", d.Take($"{t}.attn.norm_k.weight"));
                Put($"{c}.attn.ln_q.weight", d.Take($"{t}.attn.norm_added_q.weight"));
                Put($"{c}.attn.ln_k.weight", d.Take($"{t}.attn.norm_added_k.weight"));
            }
            Linear($"{x}.attn.proj", $"{t}.attn.to_out.0");
            if (d.Has($"{t}.attn.to_add_out.weight")) Linear($"{c}.attn.proj", $"{t}.attn.to_add_out");
            if (d.Has($"{t}.attn2.to_q.weight"))
            {
                Fused($"{x}.attn2.qkv", $"{t}.attn2.to_q", $"{t}.attn2.to_k", $"{t}.attn2.to_v");
                if (d.Has($"{t}.attn2.norm_q.weight"))
                {
                    Put($"{x}.attn2.ln_q.weight", d.Take($"{t}.attn2.norm_q.weight"));
                    Put($"{x}.attn2.ln_k.weight", d.Take($"{t}.attn2.norm_k.weight"));
                }
                Linear($"{x}.attn2.proj", $"{t}.attn2.to_out.0");
            }
            Linear($"{x}.adaLN_modulation.1", $"{t}.norm1.linear");
            bool last = i == blocks - 1;
            foreach (string leaf in new[] { ".weight", ".bias" })
            {
                var modulation = d.Take($"{t}.norm1_context.linear{leaf}");
                Put($"{c}.adaLN_modulation.1{leaf}", last ? Unswap(modulation) : modulation);
            }
            Linear($"{x}.mlp.fc1", $"{t}.ff.net.0.proj");
            Linear($"{x}.mlp.fc2", $"{t}.ff.net.2");
            if (!last)
            {
                Linear($"{c}.mlp.fc1", $"{t}.ff_context.net.0.proj");
                Linear($"{c}.mlp.fc2", $"{t}.ff_context.net.2");
            }
        }
        Linear("final_layer.linear", "proj_out");
        foreach (string leaf in new[] { ".weight", ".bias" })
            Put($"final_layer.adaLN_modulation.1{leaf}", Unswap(d.Take($"norm_out.linear{leaf}")));
    }

    /// <summary>
    /// Writes a diffusers VAE folder as a VAE file of its own in the LDM layout with no prefix (as BFL's <c>ae.safetensors</c>),
    /// or with <paramref name="prefix"/>.
    /// </summary>
    public static void WriteVae(string vaeFolder, string path, string prefix = "")
    {
        var tensors = new SortedDictionary<string, (long[] Shape, float[] Values)>(StringComparer.Ordinal);
        Vae(vaeFolder, tensors, prefix);
        var writer = new SafeTensorsWriter();
        foreach (var (name, (shape, values)) in tensors) writer.Add(name, shape, values);
        writer.Save(path);
    }

    private static void Vae(string folder, SortedDictionary<string, (long[], float[])> into, string prefix = "first_stage_model.")
    {
        using var d = new Source(folder, "diffusion_pytorch_model");
        int levels = d.Names.Select(n => Regex.Match(n, @"^decoder\.up_blocks\.(\d+)\.")).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value)).Max() + 1;
        foreach (string name in d.Names.ToList())
        {
            var (shape, values) = d.Take(name);
            string ldm = name.Replace("conv_shortcut", "nin_shortcut");
            ldm = Regex.Replace(ldm, @"^(encoder|decoder)\.conv_norm_out\.", "$1.norm_out.");
            ldm = Regex.Replace(ldm, @"^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.", "encoder.down.$1.block.$2.");
            ldm = Regex.Replace(ldm, @"^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", "encoder.down.$1.downsample.");
            ldm = Regex.Replace(ldm, @"^decoder\.up_blocks\.(\d+)\.(resnets|upsamplers)\.(\d+)\.", m =>
            {
                int level = levels - 1 - int.Parse(m.Groups[1].Value);
                return m.Groups[2].Value == "resnets" ? $"decoder.up.{level}.block.{m.Groups[3].Value}." : $"decoder.up.{level}.upsample.";
            });
            ldm = Regex.Replace(ldm, @"^(encoder|decoder)\.mid_block\.resnets\.(\d)\.", m => $"{m.Groups[1].Value}.mid.block_{int.Parse(m.Groups[2].Value) + 1}.");
            var attention = Regex.Match(ldm, @"^(encoder|decoder)\.mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)\.(weight|bias)$");
            if (attention.Success)
            {
                string module = attention.Groups[2].Value switch { "group_norm" => "norm", "to_q" => "q", "to_k" => "k", "to_v" => "v", _ => "proj_out" };
                ldm = $"{attention.Groups[1].Value}.mid.attn_1.{module}.{attention.Groups[3].Value}";
                if (module != "norm" && shape.Length == 2) shape = [shape[0], shape[1], 1, 1]; // LDM's 1×1 convolutions
            }
            into[prefix + ldm] = (shape, values);
        }
    }
}
