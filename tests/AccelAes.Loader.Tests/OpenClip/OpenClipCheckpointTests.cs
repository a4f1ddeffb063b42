using System.Text.Json;
using AccelAes.Loader.OpenClip;
using AccelAes.Loader.SafeTensors;
using static AccelAes.TestSupport.TorchSaveFiles;

namespace AccelAes.Loader.Tests.OpenClip;

/// <summary>
/// Round trip through open_clip's layout: the tiny transformers CLIPModel of the conformance folder is rewritten here
/// under open_clip's names (q/k/v fused into in_proj, projections transposed, as open_clip's modules hold them), saved
/// in torch.save's format as HPSv2 ships it (<c>{"state_dict": …}</c>), and read back through
/// <see cref="OpenClipCheckpoint"/>: every tensor must come back bit-identical under its transformers name, with the
/// config of clip_model/config.json.
/// </summary>
public sealed class OpenClipCheckpointTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string ClipModel(string file) => GoldenFiles.At("clip_vision_tiny", "clip_model", file);

    [GoldenFact]
    public void Open_clip_layout_maps_back_to_identical_transformers_tensors()
    {
        using var hf = SafeTensorsSet.OpenFile(ClipModel("model.safetensors"));
        var path = OpenClipFiles.WriteFromTransformers(hf, _dir.File("HPS_like.pt"));

        using var clip = OpenClipCheckpoint.Open(path, new OpenClipConfigOverrides(TextHeads: 2, VisionHeads: 2));

        Assert.Equal(hf.Tensors.Select(t => t.Name).Order(), clip.Names.Order());
        Assert.Empty(clip.Mapping.Unmapped);
        foreach (var tensor in hf.Tensors)
        {
            Assert.Equal(tensor.Shape, clip.ShapeOf(tensor.Name));
            Assert.Equal(tensor.DType, clip.DTypeOf(tensor.Name));
            Assert.True(hf.GetBytes(tensor).SequenceEqual(clip.GetBytes(tensor.Name)), tensor.Name);
        }
    }

    [GoldenFact]
    public void Inferred_config_is_the_one_of_config_json()
    {
        using var hf = SafeTensorsSet.OpenFile(ClipModel("model.safetensors"));
        using var clip = OpenClipCheckpoint.Open(OpenClipFiles.WriteFromTransformers(hf, _dir.File("HPS_like.pt")), new OpenClipConfigOverrides(TextHeads: 2, VisionHeads: 2));
        var json = JsonDocument.Parse(File.ReadAllText(ClipModel("config.json"))).RootElement;
        int Field(string tower, string name) => json.GetProperty(tower).GetProperty(name).GetInt32();

        var config = clip.Config;
        Assert.Equal(json.GetProperty("projection_dim").GetInt32(), config.ProjectionDim);
        Assert.Equal(Field("text_config", "hidden_size"), config.Text.HiddenSize);
        Assert.Equal(Field("text_config", "intermediate_size"), config.Text.IntermediateSize);
        Assert.Equal(Field("text_config", "num_hidden_layers"), config.Text.NumHiddenLayers);
        Assert.Equal(Field("text_config", "num_attention_heads"), config.Text.NumAttentionHeads);
        Assert.Equal(Field("text_config", "max_position_embeddings"), config.Text.MaxPositionEmbeddings);
        Assert.Equal(Field("text_config", "vocab_size"), config.Text.VocabSize);
        Assert.Equal(Field("vision_config", "hidden_size"), config.Vision.HiddenSize);
        Assert.Equal(Field("vision_config", "intermediate_size"), config.Vision.IntermediateSize);
        Assert.Equal(Field("vision_config", "num_hidden_layers"), config.Vision.NumHiddenLayers);
        Assert.Equal(Field("vision_config", "num_attention_heads"), config.Vision.NumAttentionHeads);
        Assert.Equal(Field("vision_config", "image_size"), config.Vision.ImageSize);
        Assert.Equal(Field("vision_config", "patch_size"), config.Vision.PatchSize);
        // Not an OpenAI release shape: open_clip's own GELU, unless the caller says otherwise.
        Assert.Equal("gelu", config.Vision.HiddenAct);
        Assert.Equal(config.Vision.HiddenSize, config.ToConfigJson()["vision_config"]!["hidden_size"]!.GetValue<int>());
    }

    [Fact]
    public void Heads_and_activation_follow_open_clip_configs_for_released_shapes()
    {
        // ViT-H-14 (HPSv2): vision width 1280 with head_width 80 → 16 heads; text 1024 → 16; GELU.
        var vitH = Shapes(visionWidth: 1280, visionLayers: 32, patch: 14, grid: 16, textWidth: 1024, textLayers: 12, embed: 1024);
        var h = OpenClipConfigInference.Infer(vitH, "ViT-H-14");
        Assert.Equal((16, 16, "gelu", 224), (h.Vision.NumAttentionHeads, h.Text.NumAttentionHeads, h.Vision.HiddenAct, h.Vision.ImageSize));
        Assert.Equal((49408, 77, 5120, 1024), (h.Text.VocabSize, h.Text.MaxPositionEmbeddings, h.Vision.IntermediateSize, h.ProjectionDim));

        // OpenAI ViT-L/14: QuickGELU, 16 vision and 12 text heads; an explicit activation wins.
        var vitL = Shapes(visionWidth: 1024, visionLayers: 24, patch: 14, grid: 16, textWidth: 768, textLayers: 12, embed: 768);
        var l = OpenClipConfigInference.Infer(vitL, "ViT-L-14");
        Assert.Equal((16, 12, "quick_gelu"), (l.Vision.NumAttentionHeads, l.Text.NumAttentionHeads, l.Text.HiddenAct));
        Assert.Equal("gelu", OpenClipConfigInference.Infer(vitL, "ViT-L-14", new(HiddenAct: "gelu")).Vision.HiddenAct);
    }

    [Fact]
    public void Projection_and_in_proj_are_split_and_transposed_by_the_map()
    {
        var map = OpenClipKeyMap.Map(Shapes(visionWidth: 64, visionLayers: 1, patch: 4, grid: 2, textWidth: 64, textLayers: 1, embed: 8));

        var v = map.Targets["vision_model.encoder.layers.0.self_attn.v_proj.weight"];
        Assert.Equal(("visual.transformer.resblocks.0.attn.in_proj_weight", OpenClipTransform.RowSlice, 128L), (v.SourceName, v.Transform, v.RowStart));
        Assert.Equal([64L, 64L], v.Shape);
        var projection = map.Targets["visual_projection.weight"];
        Assert.Equal(OpenClipTransform.Transpose, projection.Transform);
        Assert.Equal([8L, 64L], projection.Shape);
        Assert.Equal("text_model.encoder.layers.0.mlp.fc2.bias",
            map.Targets.Single(t => t.Value.SourceName == "transformer.resblocks.0.mlp.c_proj.bias").Key);
    }

    [Fact]
    public void Resnet_tower_is_refused_by_name()
    {
        var shapes = new Dictionary<string, IReadOnlyList<long>> { ["visual.attnpool.c_proj.weight"] = [1024, 2048] };
        var error = Assert.Throws<AccelAesException>(() => OpenClipConfigInference.Infer(shapes, "RN50.pt"));
        Assert.Contains("ResNet", error.Message);
        Assert.Contains("visual.conv1.weight", error.Message);
    }

    // Shapes of an open_clip ViT state dict (4× MLP), enough for the inference and the map.
    private static Dictionary<string, IReadOnlyList<long>> Shapes(long visionWidth, int visionLayers, long patch, long grid,
        long textWidth, int textLayers, long embed)
    {
        var shapes = new Dictionary<string, IReadOnlyList<long>>
        {
            ["visual.conv1.weight"] = [visionWidth, 3, patch, patch],
            ["visual.class_embedding"] = [visionWidth],
            ["visual.positional_embedding"] = [grid * grid + 1, visionWidth],
            ["visual.proj"] = [visionWidth, embed],
            ["token_embedding.weight"] = [49408, textWidth],
            ["positional_embedding"] = [77, textWidth],
            ["text_projection"] = [textWidth, embed],
            ["logit_scale"] = [],
        };
        foreach (var (prefix, width, layers) in new[] { ("visual.", visionWidth, visionLayers), ("", textWidth, textLayers) })
            for (var i = 0; i < layers; i++)
            {
                shapes[$"{prefix}transformer.resblocks.{i}.attn.in_proj_weight"] = [3 * width, width];
                shapes[$"{prefix}transformer.resblocks.{i}.attn.in_proj_bias"] = [3 * width];
                shapes[$"{prefix}transformer.resblocks.{i}.mlp.c_fc.weight"] = [4 * width, width];
                shapes[$"{prefix}transformer.resblocks.{i}.mlp.c_proj.bias"] = [width];
            }
        return shapes;
    }
}
