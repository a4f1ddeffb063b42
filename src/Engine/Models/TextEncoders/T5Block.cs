using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>transformers <c>T5Block</c> of the encoder: <c>layer.0</c> self-attention, then <c>layer.1</c> feed-forward.</summary>
public sealed class T5Block
{
    private readonly T5LayerFF _feedForward;

    public T5Block(WeightReader w, T5Config config, bool hasRelativeAttentionBias)
    {
        SelfAttentionLayer = new T5LayerSelfAttention(w.Scope("layer.0"), config, hasRelativeAttentionBias);
        _feedForward = new T5LayerFF(w.Scope("layer.1"), config);
    }

    public T5LayerSelfAttention SelfAttentionLayer { get; }

    public Tensor Forward(Tensor x, AttentionMaskArgs mask) => _feedForward.Forward(SelfAttentionLayer.Forward(x, mask));
}
