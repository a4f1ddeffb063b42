using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.ImageReward;

/// <summary><c>BertSelfOutput</c> of BLIP's med.py (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb), post-LN: <c>LayerNorm(dense(context) + input)</c>.</summary>
public sealed class BertSelfOutput
{
    private readonly LinearLayer _dense;
    private readonly Tensor _layerNormWeight, _layerNormBias;
    private readonly float _eps;

    public BertSelfOutput(WeightReader w, BlipTextConfig config)
    {
        _eps = (float)config.LayerNormEps;
        _dense = LinearLayer.Load(w, "dense", config.HiddenSize, config.HiddenSize);
        _layerNormWeight = w.Get("LayerNorm.weight", config.HiddenSize);
        _layerNormBias = w.Get("LayerNorm.bias", config.HiddenSize);
    }

    public Tensor Forward(Tensor context, Tensor input)
    {
        IBackend be = input.Backend;
        return be.LayerNorm(be.Add(_dense.Forward(context), input), _eps, _layerNormWeight, _layerNormBias);
    }
}
