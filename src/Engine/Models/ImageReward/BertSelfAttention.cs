using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.ImageReward;

/// <summary>
/// <c>BertSelfAttention</c> of BLIP's med.py (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb), absolute positions only. As self-attention, query,
/// key and value read the text (hidden_size wide); as cross-attention (<c>is_cross_attention</c>) key and value read
/// the image embeddings, <c>encoder_width</c> wide. Scores are <c>q·kᵀ / √head_dim</c> plus the additive mask, then
/// softmax (no dropout at inference).
/// </summary>
public sealed class BertSelfAttention
{
    private readonly LinearLayer _query, _key, _value;
    private readonly int _heads, _headDim;
    private readonly float _scale;

    public BertSelfAttention(WeightReader w, BlipTextConfig config, bool isCrossAttention)
    {
        _heads = config.Heads;
        _headDim = config.HeadDim;
        _scale = 1f / MathF.Sqrt(_headDim);
        int keyValueWidth = isCrossAttention ? config.EncoderWidth : config.HiddenSize;
        _query = LinearLayer.Load(w, "query", config.HiddenSize, config.HiddenSize);
        _key = LinearLayer.Load(w, "key", keyValueWidth, config.HiddenSize);
        _value = LinearLayer.Load(w, "value", keyValueWidth, config.HiddenSize);
    }

    /// <summary>
    /// hidden [B, L, hidden] attends to <paramref name="keyValueSource"/> [B, S, width] (the hidden states themselves,
    /// or the image embeddings) under <paramref name="mask"/> → context [B, L, hidden].
    /// </summary>
    public Tensor Forward(Tensor hidden, Tensor keyValueSource, AttentionMaskArgs mask)
    {
        int batch = hidden.Shape[0], length = hidden.Shape[1], sources = keyValueSource.Shape[1];
        Tensor q = _query.Forward(hidden).Reshape(batch, length, _heads, _headDim);
        Tensor k = _key.Forward(keyValueSource).Reshape(batch, sources, _heads, _headDim);
        Tensor v = _value.Forward(keyValueSource).Reshape(batch, sources, _heads, _headDim);
        Tensor context = hidden.Backend.Attention(q, k, v, _scale, mask.KeyMask, mask.Causal, mask.Bias);
        return context.Reshape(batch, length, _heads * _headDim);
    }
}
