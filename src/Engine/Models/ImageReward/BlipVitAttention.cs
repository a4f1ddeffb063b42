using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.ImageReward;

/// <summary>
/// <c>Attention</c> of BLIP's vit.py (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb): one fused <c>qkv</c> Linear (with bias, qkv_bias=True), its output
/// viewed as <c>(B, N, 3, heads, head_dim)</c> so q, k and v are the three consecutive width-sized thirds, softmax of
/// <c>q·kᵀ·head_dim^-0.5</c> over all tokens (no mask), then <c>proj</c>.
/// </summary>
public sealed class BlipVitAttention
{
    private readonly LinearLayer _qkv, _proj;
    private readonly int _heads, _headDim;
    private readonly float _scale;

    public BlipVitAttention(WeightReader w, BlipVisionConfig config)
    {
        _heads = config.Heads;
        _headDim = config.HeadDim;
        _scale = (float)Math.Pow(_headDim, -0.5);
        _qkv = LinearLayer.Load(w, "qkv", config.Width, 3 * config.Width);
        _proj = LinearLayer.Load(w, "proj", config.Width, config.Width);
    }

    /// <summary>x [B, N, width] (after norm1) → [B, N, width].</summary>
    public Tensor Forward(Tensor x)
    {
        IBackend be = x.Backend;
        int batch = x.Shape[0], tokens = x.Shape[1];
        Tensor qkv = _qkv.Forward(x).Reshape(batch, tokens, 3, _heads * _headDim);
        Tensor Part(int i) => be.Slice(qkv, 2, i, 1).Reshape(batch, tokens, _heads, _headDim);
        Tensor o = be.Attention(Part(0), Part(1), Part(2), _scale);
        return _proj.Forward(o.Reshape(batch, tokens, _heads * _headDim));
    }
}
