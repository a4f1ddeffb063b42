using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.ImageReward;

/// <summary><c>Mlp</c> of BLIP's vit.py (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb): <c>fc2(GELU(fc1(x)))</c>, <c>nn.GELU()</c> being the exact (erf) GELU.</summary>
public sealed class BlipVitMlp
{
    private readonly LinearLayer _fc1, _fc2;

    public BlipVitMlp(WeightReader w, BlipVisionConfig config)
    {
        _fc1 = LinearLayer.Load(w, "fc1", config.Width, config.MlpHidden);
        _fc2 = LinearLayer.Load(w, "fc2", config.MlpHidden, config.Width);
    }

    public Tensor Forward(Tensor x) => _fc2.Forward(_fc1.Forward(x, Activation.Gelu));
}
