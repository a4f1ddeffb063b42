using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.ImageReward;

/// <summary>
/// <c>BertLayer</c> of BLIP's med.py (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb) in <c>mode='multimodal'</c> (BertModel.forward's default, the
/// path <c>ImageReward.score</c> takes): self-attention over the text under the padding mask, cross-attention from the
/// text to every image embedding (<c>image_atts</c> is all ones, so no mask), then the feed-forward
/// (intermediate → output).
/// </summary>
public sealed class BertLayer
{
    private static readonly AttentionMaskArgs NoMask = new(null, false, null);

    private readonly BertAttention _attention, _crossAttention;
    private readonly BertIntermediate _intermediate;
    private readonly BertOutput _output;

    public BertLayer(WeightReader w, BlipTextConfig config)
    {
        _attention = new BertAttention(w.Scope("attention"), config, isCrossAttention: false);
        _crossAttention = new BertAttention(w.Scope("crossattention"), config, isCrossAttention: true);
        _intermediate = new BertIntermediate(w.Scope("intermediate"), config);
        _output = new BertOutput(w.Scope("output"), config);
    }

    public Tensor Forward(Tensor hidden, AttentionMaskArgs textMask, Tensor imageEmbeds)
    {
        Tensor attended = _attention.Forward(hidden, hidden, textMask);
        attended = _crossAttention.Forward(attended, imageEmbeds, NoMask);
        return _output.Forward(_intermediate.Forward(attended), attended);
    }
}
