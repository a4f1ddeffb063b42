using AccelAes.Loader.SafeTensors;
using static AccelAes.TestSupport.TorchSaveFiles;

namespace AccelAes.TestSupport;

/// <summary>
/// Writes a transformers CLIPModel's weights in open_clip's layout, saved in torch.save's format as HPSv2 ships its
/// checkpoint (<c>{"state_dict": …}</c>), written without torch: the inverse of the mapping under test.
/// </summary>
public static class OpenClipFiles
{
    /// <summary>
    /// The inverse of transformers' converter, written from open_clip's module names (not from OpenClipKeyMap's tables):
    /// each transformers tensor goes back to where open_clip's VisionTransformer / TextTransformer keeps it.
    /// </summary>
    public static string WriteFromTransformers(SafeTensorsSet hf, string path)
    {
        var tensors = new List<(string Name, long[] Shape, float[] Values)>();
        float[] Read(string name) => hf.ReadAsFloat32(name);
        long[] ShapeOf(string name) => hf.Get(name).Shape.ToArray();
        void Same(string open, string hfName) => tensors.Add((open, ShapeOf(hfName), Read(hfName)));
        void Transposed(string open, string hfName)
        {
            var shape = ShapeOf(hfName);
            var values = Read(hfName);
            var result = new float[values.Length];
            for (var r = 0; r < shape[0]; r++)
                for (var c = 0; c < shape[1]; c++)
                    result[c * shape[0] + r] = values[r * shape[1] + c];
            tensors.Add((open, [shape[1], shape[0]], result));
        }

        foreach (var (open, tower) in new[] { ("visual.", "vision_model"), ("", "text_model") })
        {
            var layers = hf.Tensors.Select(t => t.Name).Where(n => n.StartsWith($"{tower}.encoder.layers.", StringComparison.Ordinal))
                .Select(n => int.Parse(n.Split('.')[3])).Distinct();
            foreach (var i in layers)
            {
                var from = $"{tower}.encoder.layers.{i}.";
                var to = $"{open}transformer.resblocks.{i}.";
                foreach (var part in new[] { "weight", "bias" })
                {
                    var q = ShapeOf($"{from}self_attn.q_proj.{part}");
                    tensors.Add(($"{to}attn.in_proj_{part}", [3 * q[0], .. q.Skip(1)],
                        [.. Read($"{from}self_attn.q_proj.{part}"), .. Read($"{from}self_attn.k_proj.{part}"), .. Read($"{from}self_attn.v_proj.{part}")]));
                    Same($"{to}attn.out_proj.{part}", $"{from}self_attn.out_proj.{part}");
                    Same($"{to}ln_1.{part}", $"{from}layer_norm1.{part}");
                    Same($"{to}ln_2.{part}", $"{from}layer_norm2.{part}");
                    Same($"{to}mlp.c_fc.{part}", $"{from}mlp.fc1.{part}");
                    Same($"{to}mlp.c_proj.{part}", $"{from}mlp.fc2.{part}");
                }
            }
        }
        Same("visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight");
        Same("visual.class_embedding", "vision_model.embeddings.class_embedding");
        Same("visual.positional_embedding", "vision_model.embeddings.position_embedding.weight");
        foreach (var part in new[] { "weight", "bias" })
        {
            Same($"visual.ln_pre.{part}", $"vision_model.pre_layrnorm.{part}");
            Same($"visual.ln_post.{part}", $"vision_model.post_layernorm.{part}");
            Same($"ln_final.{part}", $"text_model.final_layer_norm.{part}");
        }
        Transposed("visual.proj", "visual_projection.weight");
        Same("token_embedding.weight", "text_model.embeddings.token_embedding.weight");
        Same("positional_embedding", "text_model.embeddings.position_embedding.weight");
        Transposed("text_projection", "text_projection.weight");
        Same("logit_scale", "logit_scale");

        var storages = tensors.Select((t, i) => Floats(i.ToString(), t.Values)).ToArray();
        var specs = tensors.Select((t, i) => new TensorSpec(t.Name, i.ToString(), 0, t.Shape, ContiguousStrides(t.Shape))).ToArray();
        File.WriteAllBytes(path, Zip(StateDict(storages, "state_dict", specs), storages));
        return path;
    }
}
