using AccelAes.Engine.Components;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.Files;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Engine.Acceleration.AesMask;

/// <summary>
/// Loads the CLIP ViT-L/14 text tower AesMask scores words with, from any of the layouts users have: the
/// transformers repo <c>openai/clip-vit-large-patch14</c> (a CLIPModel: config.json with <c>text_config</c>, the
/// text tower's weights under <c>text_model.*</c> beside the vision tower's, tokenizer files at the root), a
/// CLIPTextModel(WithProjection) folder, or a diffusers pipeline folder whose <c>text_encoder</c> is CLIP-L (SD3, FLUX).
/// </summary>
public static class ClipEmbedderLoader
{
    public static ClipPhraseEmbedder Load(string path, IBackend backend)
    {
        string root = Path.GetFullPath(path);
        if (InputFile.Exists(Path.Combine(root, "model_index.json")))
            return Load(Path.Combine(root, "text_encoder"), Path.Combine(root, "tokenizer"), backend);
        return Load(root, root, backend);
    }

    private static ClipPhraseEmbedder Load(string modelFolder, string tokenizerFolder, IBackend backend)
    {
        var component = ComponentFolder.Open(modelFolder, null);
        JsonConfig config = component.Config;
        string cls = component.ClassName;
        ClipTextConfig textConfig = cls switch
        {
            "CLIPModel" => ClipTextConfig.From(config.GetObject("text_config")),
            ClipTextConfig.TextModelClass or ClipTextConfig.WithProjectionClass => ClipTextConfig.From(config),
            _ => throw new AccelAesException($"{config.FilePath}: AesMask needs a CLIP text encoder (CLIPModel, CLIPTextModel or CLIPTextModelWithProjection), not {cls}."),
        };
        if (TokenizerFactory.FromFolder(tokenizerFolder) is not ClipTokenizer tokenizer)
            throw new AccelAesException($"'{tokenizerFolder}' holds no CLIP tokenizer (vocab.json + merges.txt).");
        using var set = SafeTensorsSet.OpenComponent(modelFolder, component.WeightsBaseName, null);
        // CLIPModel, CLIPTextModel and CLIPTextModelWithProjection all keep the text tower under text_model.*.
        var model = new ClipTextModel(new WeightReader(new SafeTensorsWeightSource(set, set.Source), backend), textConfig);
        string weightsKey = $"{Path.GetFullPath(set.Files[0].Path)}:{set.TotalBytes}:{File.GetLastWriteTimeUtc(set.Files[0].Path).Ticks}";
        return new ClipPhraseEmbedder(tokenizer, ids => model.Forward(ids), weightsKey);
    }
}
