using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>CLIPAttention</c> (eager): q/k/v/out projections with bias, heads split as
/// <c>view(B, L, heads, head_dim)</c>, scores scaled by <c>head_dim^-0.5</c> (transformers scales q after its bias;
/// the op scales q·kᵀ, the same up to float rounding), then the causal and padding masks.
/// </summary>
public sealed class ClipAttention
{
    private readonly int _heads, _headDim;
    private readonly float _scale;
    private readonly LinearLayer _qProj, _kProj, _vProj, _outProj;

    public ClipAttention(WeightReader w, IClipEncoderConfig config)
    {
        int d = config.HiddenSize;
        _heads = config.NumAttentionHeads;
        _headDim = config.HeadDim;
        _scale = (float)Math.Pow(_headDim, -0.5);
        _kProj = LinearLayer.Load(w, "k_proj", d, d);
        _vProj = LinearLayer.Load(w, "v_proj", d, d);
        _qProj = LinearLayer.Load(w, "q_proj", d, d);
        _outProj = LinearLayer.Load(w, "out_proj", d, d);
    }

    /// <summary>x [B, L, hidden] (after layer_norm1) → [B, L, hidden].</summary>
    public Tensor Forward(Tensor x, AttentionMaskArgs mask)
    {
        int batch = x.Shape[0], length = x.Shape[1];
        Tensor q = _qProj.Forward(x).Reshape(batch, length, _heads, _headDim);
        Tensor k = _kProj.Forward(x).Reshape(batch, length, _heads, _headDim);
        Tensor v = _vProj.Forward(x).Reshape(batch, length, _heads, _headDim);
        Tensor o = x.Backend.Attention(q, k, v, _scale, mask.KeyMask, mask.Causal, mask.Bias);
        return _outProj.Forward(o.Reshape(batch, length, _heads * _headDim));
    }
}
