using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.ImageReward;

/// <summary><c>BertIntermediate</c> of BLIP's med.py (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb): <c>ACT2FN[hidden_act](dense(x))</c>, gelu (erf) in med_config.json.</summary>
public sealed class BertIntermediate
{
    private readonly LinearLayer _dense;
    private readonly TransformersActivation _activation;

    public BertIntermediate(WeightReader w, BlipTextConfig config)
    {
        _activation = new TransformersActivation(config.HiddenAct);
        _dense = LinearLayer.Load(w, "dense", config.HiddenSize, config.IntermediateSize);
    }

    public Tensor Forward(Tensor x) => _activation.Linear(_dense, x);
}
