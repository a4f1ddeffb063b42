using System.Text.Json.Nodes;

namespace AccelAes.Loader.OpenClip;

/// <summary>One CLIP tower in transformers' config terms (<c>CLIPTextConfig</c> / <c>CLIPVisionConfig</c> field meanings).</summary>
/// <param name="VocabSize">Text only (0 for the vision tower).</param>
/// <param name="MaxPositionEmbeddings">Text only: the context length (0 for the vision tower).</param>
/// <param name="ImageSize">Vision only (0 for the text tower).</param>
/// <param name="PatchSize">Vision only (0 for the text tower).</param>
public sealed record ClipTowerConfig(int HiddenSize, int IntermediateSize, int NumHiddenLayers, int NumAttentionHeads,
    string HiddenAct, int VocabSize = 0, int MaxPositionEmbeddings = 0, int ImageSize = 0, int PatchSize = 0);

/// <summary>
/// A CLIP model's configuration as inferred from an open_clip state dict (<see cref="OpenClipConfigInference"/>), in
/// the terms of transformers' <c>CLIPConfig</c>, so the CLIP model code reads it exactly as it reads a config.json.
/// </summary>
public sealed record OpenClipConfig(ClipTowerConfig Text, ClipTowerConfig Vision, int ProjectionDim)
{
    /// <summary>The equivalent transformers <c>config.json</c> (a <c>CLIPModel</c>).</summary>
    public JsonObject ToConfigJson() => new()
    {
        ["architectures"] = new JsonArray("CLIPModel"),
        ["model_type"] = "clip",
        ["projection_dim"] = ProjectionDim,
        ["text_config"] = new JsonObject
        {
            ["model_type"] = "clip_text_model",
            ["hidden_size"] = Text.HiddenSize,
            ["intermediate_size"] = Text.IntermediateSize,
            ["num_hidden_layers"] = Text.NumHiddenLayers,
            ["num_attention_heads"] = Text.NumAttentionHeads,
            ["hidden_act"] = Text.HiddenAct,
            ["vocab_size"] = Text.VocabSize,
            ["max_position_embeddings"] = Text.MaxPositionEmbeddings,
            // open_clip pools the text at text.argmax(dim=-1) (the end token has the largest id); transformers keeps
            // that rule for configs whose eos_token_id is 2 (before PR #24773), so this selects it.
            ["eos_token_id"] = 2,
            ["projection_dim"] = ProjectionDim,
        },
        ["vision_config"] = new JsonObject
        {
            ["model_type"] = "clip_vision_model",
            ["hidden_size"] = Vision.HiddenSize,
            ["intermediate_size"] = Vision.IntermediateSize,
            ["num_hidden_layers"] = Vision.NumHiddenLayers,
            ["num_attention_heads"] = Vision.NumAttentionHeads,
            ["hidden_act"] = Vision.HiddenAct,
            ["image_size"] = Vision.ImageSize,
            ["patch_size"] = Vision.PatchSize,
            ["num_channels"] = 3,
            ["projection_dim"] = ProjectionDim,
        },
    };
}

/// <summary>
/// What the shapes of a state dict cannot say. Heads: inferred from the width as open_clip's released configs set them
/// (<see cref="OpenClipConfigInference"/>); models with other head sizes (the tiny test configs, head width 12/16) give them here.
/// Activation: see <see cref="OpenClipConfigInference"/>.
/// </summary>
public sealed record OpenClipConfigOverrides(int? TextHeads = null, int? VisionHeads = null, string? HiddenAct = null);
