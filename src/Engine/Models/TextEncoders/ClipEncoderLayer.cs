using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>CLIPEncoderLayer</c>, pre-LN: <c>x += self_attn(layer_norm1(x))</c>, then
/// <c>x += mlp(layer_norm2(x))</c>.
/// </summary>
public sealed class ClipEncoderLayer
{
    private readonly ClipAttention _selfAttn;
    private readonly ClipMlp _mlp;
    private readonly Tensor _layerNorm1Weight, _layerNorm1Bias, _layerNorm2Weight, _layerNorm2Bias;
    private readonly float _eps;

    public ClipEncoderLayer(WeightReader w, IClipEncoderConfig config)
    {
        int d = config.HiddenSize;
        _eps = (float)config.LayerNormEps;
        _selfAttn = new ClipAttention(w.Scope("self_attn"), config);
        _layerNorm1Weight = w.Get("layer_norm1.weight", d);
        _layerNorm1Bias = w.Get("layer_norm1.bias", d);
        _mlp = new ClipMlp(w.Scope("mlp"), config);
        _layerNorm2Weight = w.Get("layer_norm2.weight", d);
        _layerNorm2Bias = w.Get("layer_norm2.bias", d);
    }

    public Tensor Forward(Tensor x, AttentionMaskArgs mask)
    {
        IBackend be = x.Backend;
        x = be.Add(x, _selfAttn.Forward(be.LayerNorm(x, _eps, _layerNorm1Weight, _layerNorm1Bias), mask));
        return be.Add(x, _mlp.Forward(be.LayerNorm(x, _eps, _layerNorm2Weight, _layerNorm2Bias)));
    }
}
