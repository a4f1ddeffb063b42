using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.ImageReward;

/// <summary>
/// <c>Block</c> of BLIP's vit.py (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb), pre-LN: <c>x += attn(norm1(x))</c>, <c>x += mlp(norm2(x))</c>
/// (drop-path and dropout are identities at inference).
/// </summary>
public sealed class BlipVitBlock
{
    private readonly Tensor _norm1Weight, _norm1Bias, _norm2Weight, _norm2Bias;
    private readonly BlipVitAttention _attn;
    private readonly BlipVitMlp _mlp;
    private readonly float _eps;

    public BlipVitBlock(WeightReader w, BlipVisionConfig config)
    {
        _eps = (float)config.LayerNormEps;
        _norm1Weight = w.Get("norm1.weight", config.Width);
        _norm1Bias = w.Get("norm1.bias", config.Width);
        _attn = new BlipVitAttention(w.Scope("attn"), config);
        _norm2Weight = w.Get("norm2.weight", config.Width);
        _norm2Bias = w.Get("norm2.bias", config.Width);
        _mlp = new BlipVitMlp(w.Scope("mlp"), config);
    }

    public Tensor Forward(Tensor x)
    {
        IBackend be = x.Backend;
        x = be.Add(x, _attn.Forward(be.LayerNorm(x, _eps, _norm1Weight, _norm1Bias)));
        return be.Add(x, _mlp.Forward(be.LayerNorm(x, _eps, _norm2Weight, _norm2Bias)));
    }
}
