using System.Text.RegularExpressions;

namespace AccelAes.Loader.OpenClip;

/// <summary>
/// Maps an open_clip CLIP state dict (<c>visual.*</c>, <c>transformer.resblocks.*</c>, <c>token_embedding</c>, …: the
/// layout of OpenAI's CLIP and of open_clip's ViT models such as HPSv2's ViT-H-14) to the names of transformers'
/// <c>CLIPModel</c>. The correspondence is the one transformers' converter uses
/// (src/transformers/models/clip/convert_clip_original_pytorch_to_hf.py, huggingface/transformers commit
/// 0ea01089f778cba53d0a06e62972b8be1ed554e7): fused <c>attn.in_proj_*</c> split into q/k/v by rows,
/// <c>mlp.c_fc</c>/<c>c_proj</c> → <c>fc1</c>/<c>fc2</c>, <c>ln_1</c>/<c>ln_2</c> → <c>layer_norm1</c>/<c>2</c>, and the
/// projections <c>visual.proj</c>/<c>text_projection</c> transposed into Linear weights.
/// </summary>
public static partial class OpenClipKeyMap
{
    /// <summary>The mapping of a state dict: target name → source, and the source tensors no target uses.</summary>
    public sealed record Result(IReadOnlyDictionary<string, OpenClipTensorSource> Targets, IReadOnlyList<string> Unmapped);

    // open_clip module → transformers module, for everything outside the residual blocks.
    private static readonly (string Source, string Target, bool Transpose)[] Fixed =
    [
        ("visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight", false),
        ("visual.class_embedding", "vision_model.embeddings.class_embedding", false),
        ("visual.positional_embedding", "vision_model.embeddings.position_embedding.weight", false),
        ("visual.ln_pre.weight", "vision_model.pre_layrnorm.weight", false),   // sic: transformers' spelling
        ("visual.ln_pre.bias", "vision_model.pre_layrnorm.bias", false),
        ("visual.ln_post.weight", "vision_model.post_layernorm.weight", false),
        ("visual.ln_post.bias", "vision_model.post_layernorm.bias", false),
        ("visual.proj", "visual_projection.weight", true),
        ("token_embedding.weight", "text_model.embeddings.token_embedding.weight", false),
        ("positional_embedding", "text_model.embeddings.position_embedding.weight", false),
        ("ln_final.weight", "text_model.final_layer_norm.weight", false),
        ("ln_final.bias", "text_model.final_layer_norm.bias", false),
        ("text_projection", "text_projection.weight", true),
        ("logit_scale", "logit_scale", false),
    ];

    // Inside a residual block: open_clip suffix → transformers suffix.
    private static readonly (string Source, string Target)[] BlockRenames =
    [
        ("ln_1.weight", "layer_norm1.weight"), ("ln_1.bias", "layer_norm1.bias"),
        ("ln_2.weight", "layer_norm2.weight"), ("ln_2.bias", "layer_norm2.bias"),
        ("mlp.c_fc.weight", "mlp.fc1.weight"), ("mlp.c_fc.bias", "mlp.fc1.bias"),
        ("mlp.c_proj.weight", "mlp.fc2.weight"), ("mlp.c_proj.bias", "mlp.fc2.bias"),
        ("attn.out_proj.weight", "self_attn.out_proj.weight"), ("attn.out_proj.bias", "self_attn.out_proj.bias"),
    ];

    private static readonly string[] Projections = ["q_proj", "k_proj", "v_proj"];

    [GeneratedRegex(@"^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$")]
    private static partial Regex BlockKey();

    /// <summary>Maps the tensors of an open_clip state dict, given by name and shape.</summary>
    /// <exception cref="AccelAesException">A tensor the mapping splits or transposes has a shape it cannot have.</exception>
    public static Result Map(IReadOnlyDictionary<string, IReadOnlyList<long>> shapes)
    {
        var targets = new Dictionary<string, OpenClipTensorSource>(StringComparer.Ordinal);
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (source, target, transpose) in Fixed)
        {
            if (!shapes.TryGetValue(source, out var shape))
                continue;
            used.Add(source);
            if (!transpose)
                targets[target] = new(source, OpenClipTransform.Rename, shape.ToArray());
            else if (shape.Count == 2)
                targets[target] = new(source, OpenClipTransform.Transpose, [shape[1], shape[0]]);
            else
                throw new AccelAesException($"open_clip tensor '{source}' has shape [{string.Join(", ", shape)}]; a projection must be 2-D.");
        }

        foreach (var (name, shape) in shapes)
        {
            var match = BlockKey().Match(name);
            if (!match.Success)
                continue;
            var tower = match.Groups[1].Success ? "vision_model" : "text_model";
            var prefix = $"{tower}.encoder.layers.{match.Groups[2].Value}.";
            var suffix = match.Groups[3].Value;
            var rename = BlockRenames.FirstOrDefault(r => r.Source == suffix);
            if (rename.Target is not null)
            {
                targets[prefix + rename.Target] = new(name, OpenClipTransform.Rename, shape.ToArray());
                used.Add(name);
            }
            else if (suffix is "attn.in_proj_weight" or "attn.in_proj_bias")
            {
                if (shape.Count is not (1 or 2) || shape[0] % 3 != 0)
                    throw new AccelAesException(
                        $"open_clip tensor '{name}' has shape [{string.Join(", ", shape)}]; a fused q/k/v projection has 3·width rows.");
                var rows = shape[0] / 3;
                var part = suffix.EndsWith("weight", StringComparison.Ordinal) ? "weight" : "bias";
                for (var i = 0; i < 3; i++)
                    targets[$"{prefix}self_attn.{Projections[i]}.{part}"] =
                        new(name, OpenClipTransform.RowSlice, [rows, .. shape.Skip(1)], i * rows);
                used.Add(name);
            }
        }

        var unmapped = shapes.Keys.Where(n => !used.Contains(n)).Order(StringComparer.Ordinal).ToArray();
        return new Result(targets, unmapped);
    }
}
