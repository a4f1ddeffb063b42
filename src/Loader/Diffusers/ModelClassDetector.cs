namespace AccelAes.Loader.Diffusers;

/// <summary>
/// Names the model class a bare checkpoint holds from its tensor names (for <c>accelaes inspect</c> on a
/// .safetensors file without a config). Each rule keys on names only that class has.
/// </summary>
public static class ModelClassDetector
{
    private static readonly (string ClassName, string[] Required)[] Rules =
    [
        ("SD3Transformer2DModel", ["pos_embed.proj.weight", "context_embedder.weight", "transformer_blocks.0.attn.add_q_proj.weight"]),
        ("FluxTransformer2DModel", ["x_embedder.weight", "single_transformer_blocks.0.proj_out.weight"]),
        ("LuminaNextDiT2DModel", ["patch_embedder.proj.weight", "layers.0.attn2.to_out.0.weight"]),
        ("AutoencoderKL", ["decoder.conv_in.weight", "decoder.conv_out.weight"]),
        // A CLIPModel holds both towers and logit_scale; it is checked before the towers it contains.
        ("CLIPModel", ["text_model.embeddings.token_embedding.weight", "vision_model.embeddings.patch_embedding.weight", "logit_scale"]),
        ("CLIPTextModel", ["text_model.embeddings.token_embedding.weight", "text_model.final_layer_norm.weight"]),
        ("CLIPVisionModel", ["vision_model.embeddings.patch_embedding.weight", "vision_model.pre_layrnorm.weight"]),
        ("T5EncoderModel", ["encoder.block.0.layer.0.SelfAttention.q.weight"]),
        ("GemmaModel", ["layers.0.self_attn.q_proj.weight", "embed_tokens.weight"]),
    ];

    /// <summary>The detected class, or null when no rule matches.</summary>
    public static string? Detect(IEnumerable<string> tensorNames)
    {
        var names = tensorNames as ISet<string> ?? new HashSet<string>(tensorNames, StringComparer.Ordinal);
        foreach (var (cls, required) in Rules)
        {
            if (!required.All(names.Contains)) continue;
            if (cls == "CLIPTextModel" && names.Contains("text_projection.weight")) return "CLIPTextModelWithProjection";
            if (cls == "CLIPVisionModel" && names.Contains("visual_projection.weight")) return "CLIPVisionModelWithProjection";
            return cls;
        }
        // transformers sometimes saves GemmaModel with a "model." prefix (GemmaForCausalLM)
        if (names.Contains("model.layers.0.self_attn.q_proj.weight")) return "GemmaForCausalLM";
        return null;
    }
}
