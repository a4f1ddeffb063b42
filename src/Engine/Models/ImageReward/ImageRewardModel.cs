using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.ImageReward;

/// <summary>
/// <c>ImageReward</c> of ImageReward/ImageReward.py (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb), its <c>score</c> path: image embeddings from
/// <c>blip.visual_encoder</c>, the prompt through <c>blip.text_encoder</c> cross-attending to them, the hidden state
/// of the first token (<c>[CLS]</c>: <c>score</c> passes the tokenizer's ids unchanged, it does not substitute
/// <c>[ENC]</c> as BLIP's ITM head does) through <c>mlp</c>, then <c>(reward − mean) / std</c>.
/// <c>blip.vision_proj</c> and <c>blip.text_proj</c> exist in the checkpoint but take no part in the score.
/// </summary>
public sealed class ImageRewardModel
{
    private readonly BlipVisionTransformer _visualEncoder;
    private readonly BertModel _textEncoder;
    private readonly ImageRewardHead _mlp;

    public ImageRewardModel(WeightReader w, ImageRewardConfig config)
    {
        config.Validate();
        Config = config;
        _visualEncoder = new BlipVisionTransformer(w.Scope(ImageRewardConfig.VisionPrefix), config.Vision);
        _textEncoder = new BertModel(w.Scope(ImageRewardConfig.TextPrefix), config.Text);
        _mlp = new ImageRewardHead(w.Scope("mlp"), config.HeadWidths);
    }

    public ImageRewardConfig Config { get; }

    public BlipVisionTransformer VisualEncoder => _visualEncoder;

    public BertModel TextEncoder => _textEncoder;

    /// <summary>
    /// Normalised rewards, one per row: <paramref name="pixelValues"/> [B, 3, size, size] (preprocessed) and the tokenized
    /// prompts [B, L] with their attention mask.
    /// </summary>
    public float[] Score(Tensor pixelValues, TokenGrid inputIds, TokenGrid attentionMask)
    {
        IBackend be = pixelValues.Backend;
        if (pixelValues.Shape.Rank != 4 || pixelValues.Shape[0] != inputIds.Batch)
            throw new AccelAesException($"ImageReward: {inputIds.Batch} prompt row(s) need pixel values [{inputIds.Batch}, 3, H, W], got {pixelValues.Shape}.");
        Tensor imageEmbeds = _visualEncoder.Forward(pixelValues);
        Tensor lastHidden = _textEncoder.Forward(inputIds, attentionMask, imageEmbeds);
        Tensor features = ClipTextTransformer.GatherPositions(lastHidden, new int[inputIds.Batch]); // [:, 0, :]
        float[] raw = be.Download(_mlp.Forward(features));
        return Array.ConvertAll(raw, Normalize);
    }

    /// <summary>
    /// <c>(rewards − self.mean) / self.std</c>: an fp32 tensor with Python floats, which torch computes in fp32 (a Python
    /// scalar does not promote a float tensor), so mean and std are rounded to fp32 first.
    /// </summary>
    public float Normalize(float rawReward) => (rawReward - (float)Config.RewardMean) / (float)Config.RewardStd;
}
