using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.ImageReward;

/// <summary><c>BertEncoder</c> of BLIP's med.py (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb): the layers <c>layer.0 … layer.N−1</c> in order.</summary>
public sealed class BertEncoder
{
    private readonly BertLayer[] _layers;

    public BertEncoder(WeightReader w, BlipTextConfig config)
    {
        _layers = new BertLayer[config.Layers];
        for (int i = 0; i < config.Layers; i++) _layers[i] = new BertLayer(w.Scope($"layer.{i}"), config);
    }

    public Tensor Forward(Tensor hidden, AttentionMaskArgs textMask, Tensor imageEmbeds)
    {
        IBackend be = hidden.Backend;
        for (int i = 0; i < _layers.Length; i++)
            using (be.Range($"blip.text_encoder layer {i}"))
                hidden = _layers[i].Forward(hidden, textMask, imageEmbeds);
        return hidden;
    }
}
