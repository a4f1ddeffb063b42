using System.Text.Json;
using System.Text.Json.Nodes;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Evaluation.Aesthetic;
using AccelAes.Engine.Models.Clip;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Tiny;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Evaluation;

/// <summary>
/// Tiny random-weight scorer models in the layouts the real ones are published in, so the metrics (and `eval` on the
/// built-in tiny model) run end to end without downloading CLIP ViT-L/14: a <c>CLIPModel</c> folder like
/// openai/clip-vit-large-patch14 (config.json, model.safetensors, CLIP tokenizer files, preprocessor_config.json;
/// 32×32 images in 8×8 patches) and a LAION aesthetic head file over its projection width. Their scores are
/// deterministic in the seed and mean nothing.
/// </summary>
public static class TinyScorers
{
    /// <summary>The tiny CLIP's embedding width (the aesthetic head's input).</summary>
    public const int ProjectionDim = 16;
    private const int ImageSize = 32;

    /// <summary>Writes a tiny CLIPModel folder; <see cref="Clip.ClipScoreMetric.Load"/> and <see cref="AestheticMetric.Load"/> read it.</summary>
    public static void WriteClip(string folder, int seed = 0)
    {
        Directory.CreateDirectory(folder);
        var configJson = new JsonObject
        {
            ["architectures"] = new JsonArray(ClipConfig.ModelClass),
            ["model_type"] = "clip",
            ["projection_dim"] = ProjectionDim,
            ["logit_scale_init_value"] = 2.6592,
            ["text_config"] = new JsonObject
            {
                ["vocab_size"] = TinyTokenizers.ClipVocabSize, ["hidden_size"] = 24, ["intermediate_size"] = 40,
                ["num_hidden_layers"] = 2, ["num_attention_heads"] = 2, ["max_position_embeddings"] = 77,
                ["bos_token_id"] = TinyTokenizers.ClipStartOfTextId, ["eos_token_id"] = TinyTokenizers.ClipEndOfTextId,
            },
            ["vision_config"] = new JsonObject
            {
                ["hidden_size"] = 32, ["intermediate_size"] = 72, ["num_hidden_layers"] = 2, ["num_attention_heads"] = 2,
                ["image_size"] = ImageSize, ["patch_size"] = 8,
            },
        };
        string configText = configJson.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        var config = ClipConfig.From(JsonConfig.Parse("<tiny CLIPModel config>", configText));
        var weights = new RandomWeightSource(seed);
        // A 0-d parameter the random initialiser has no rule for; transformers initialises it to logit_scale_init_value.
        weights.Add("logit_scale", new Shape(), [(float)config.LogitScaleInitValue]);
        using (var cpu = new CpuBackend())
            _ = new ClipModel(new WeightReader(weights, cpu), config);
        Save(weights, Path.Combine(folder, "model.safetensors"));
        File.WriteAllText(Path.Combine(folder, "config.json"), configText);
        TinyTokenizers.WriteClip(folder);
        var processor = new JsonObject
        {
            ["image_processor_type"] = "CLIPImageProcessor",
            ["size"] = new JsonObject { ["shortest_edge"] = ImageSize },
            ["crop_size"] = new JsonObject { ["height"] = ImageSize, ["width"] = ImageSize },
            ["resample"] = 3,
        };
        File.WriteAllText(Path.Combine(folder, "preprocessor_config.json"), processor.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Writes a LAION aesthetic head (the published key names) over <paramref name="inputSize"/>-wide embeddings.</summary>
    public static void WriteAestheticHead(string path, int inputSize = ProjectionDim, int seed = 0)
    {
        var weights = new RandomWeightSource(seed);
        using (var cpu = new CpuBackend())
            _ = new LaionAestheticMlp(new WeightReader(weights, cpu), inputSize);
        Save(weights, path);
    }

    private static void Save(RandomWeightSource weights, string path)
    {
        var writer = new SafeTensorsWriter().AddMetadata("format", "pt");
        foreach (var (name, (shape, values)) in weights.Tensors)
            writer.Add(name, shape.Dims.ToArray().Select(d => (long)d).ToArray(), values);
        writer.Save(path);
    }
}
