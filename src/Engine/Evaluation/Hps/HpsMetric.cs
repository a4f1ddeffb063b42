using AccelAes.Engine.Evaluation.Clip;
using AccelAes.Engine.Models.Clip;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.OpenClip;

namespace AccelAes.Engine.Evaluation.Hps;

/// <summary>
/// "hps": Human Preference Score v2 / v2.1 as hpsv2's <c>score()</c> computes it (hpsv2/img_score.py, tgxs002/HPSv2
/// 866735ecaae999fa714bd9edfa05aa2672669ee3): the open_clip ViT-H-14 model with the checkpoint's <c>state_dict</c>,
/// <c>encode_image</c> / <c>encode_text</c> normalised, score = their dot product (no logit scale). That is the CLIP
/// score's cosine on other weights, so the metric is a <see cref="ClipScoreMetric"/> named "hps" over the open_clip
/// checkpoint seen under transformers' CLIPModel names (<see cref="OpenClipCheckpoint"/>), with open_clip's evaluation
/// transform: <c>ToTensor</c> first, then an antialiased bicubic resize of the tensor (see
/// <see cref="Loader.Images.TorchAntialiasedBicubic"/>), center crop, OpenAI mean/std.
/// </summary>
/// <remarks>
/// The prompt goes through a transformers CLIP tokenizer folder (openai/clip-vit-large-patch14 ships one): open_clip's
/// <c>SimpleTokenizer</c> uses the same byte-level BPE (bpe_simple_vocab_16e6) and the same 77-token context with the
/// end token kept on truncation; it cleans text with ftfy, which transformers' tokenizer (and ours) does only without
/// ftfy's mojibake repair — prompts with broken Unicode may tokenise differently.
/// hpsv2 runs under <c>torch.cuda.amp.autocast()</c> (fp16 on a GPU); this computes in the backend's precision.
/// </remarks>
public static class HpsMetric
{
    public const string MetricName = "hps";

    /// <summary>
    /// <paramref name="checkpointPath"/>: HPS_v2.1_compressed.pt (or HPS_v2_compressed.pt, or any open_clip ViT
    /// checkpoint); <paramref name="tokenizerFolder"/>: a folder with CLIP's vocab.json and merges.txt.
    /// </summary>
    public static ClipScoreMetric Load(string checkpointPath, string tokenizerFolder, IBackend backend, OpenClipConfigOverrides? overrides = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var tokenizer = ClipScoreMetric.TokenizerIn(tokenizerFolder, "the hps metric");
        ClipModel model;
        using (OpenClipCheckpoint checkpoint = OpenClipCheckpoint.Open(checkpointPath, overrides))
        {
            ClipConfig config = ClipConfig.From(JsonConfig.Parse($"{checkpoint.Source} (inferred open_clip config)",
                checkpoint.Config.ToConfigJson().ToJsonString()));
            model = new ClipModel(new WeightReader(new OpenClipWeightSource(checkpoint), backend), config);
        }
        var transform = new TorchvisionClipTransform(model.Config.VisionConfig.ImageSize, TorchvisionResizeInput.Tensor);
        return new ClipScoreMetric(model, transform, ClipScoreMetric.PromptTokens(tokenizer, model), MetricName);
    }
}
