using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.ImageReward;

/// <summary><c>BertOutput</c> of BLIP's med.py (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb), post-LN: <c>LayerNorm(dense(intermediate) + input)</c>.</summary>
public sealed class BertOutput
{
    private readonly LinearLayer _dense;
    private readonly Tensor _layerNormWeight, _layerNormBias;
    private readonly float _eps;

    public BertOutput(WeightReader w, BlipTextConfig config)
    {
        _eps = (float)config.LayerNormEps;
        _dense = LinearLayer.Load(w, "dense", config.IntermediateSize, config.HiddenSize);
        _layerNormWeight = w.Get("LayerNorm.weight", config.HiddenSize);
        _layerNormBias = w.Get("LayerNorm.bias", config.HiddenSize);
    }

    public Tensor Forward(Tensor intermediate, Tensor input)
    {
        IBackend be = input.Backend;
        return be.LayerNorm(be.Add(_dense.Forward(intermediate), input), _eps, _layerNormWeight, _layerNormBias);
    }
}
