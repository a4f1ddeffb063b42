using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>GemmaAttention</c> (eager): q/k/v/o projections (bias only with <c>attention_bias</c>), rotary
/// embeddings on q and k, grouped-query attention (query head h reads key/value head h / (heads / kv_heads), as
/// <c>repeat_kv</c> does), scores scaled by 1/√head_dim, causal and padding masks.
/// </summary>
public sealed class GemmaAttention
{
    private readonly int _heads, _kvHeads, _headDim;
    private readonly float _scaling;
    private readonly LinearLayer _qProj, _kProj, _vProj, _oProj;

    public GemmaAttention(WeightReader w, GemmaConfig config)
    {
        _heads = config.NumAttentionHeads;
        _kvHeads = config.NumKeyValueHeads;
        _headDim = config.HeadDim;
        _scaling = (float)(1.0 / Math.Sqrt(_headDim));
        int d = config.HiddenSize;
        bool bias = config.AttentionBias;
        _qProj = LinearLayer.Load(w, "q_proj", d, _heads * _headDim, bias);
        _kProj = LinearLayer.Load(w, "k_proj", d, _kvHeads * _headDim, bias);
        _vProj = LinearLayer.Load(w, "v_proj", d, _kvHeads * _headDim, bias);
        _oProj = LinearLayer.Load(w, "o_proj", _heads * _headDim, d, bias);
    }

    /// <summary>x [B, L, hidden] (after input_layernorm); cos/sin [L, head_dim/2] → [B, L, hidden].</summary>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, AttentionMaskArgs mask)
    {
        IBackend be = x.Backend;
        int batch = x.Shape[0], length = x.Shape[1];
        Tensor q = be.Rotary(_qProj.Forward(x).Reshape(batch, length, _heads, _headDim), cos, sin, RotaryPairing.Halves);
        Tensor k = be.Rotary(_kProj.Forward(x).Reshape(batch, length, _kvHeads, _headDim), cos, sin, RotaryPairing.Halves);
        Tensor v = _vProj.Forward(x).Reshape(batch, length, _kvHeads, _headDim);
        Tensor o = be.Attention(q, k, v, _scaling, mask.KeyMask, mask.Causal, mask.Bias);
        return _oProj.Forward(o.Reshape(batch, length, _heads * _headDim));
    }
}
