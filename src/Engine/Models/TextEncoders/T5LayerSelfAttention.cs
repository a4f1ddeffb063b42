using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>transformers <c>T5LayerSelfAttention</c> (<c>layer.0</c> of a block): <c>x + SelfAttention(layer_norm(x))</c>.</summary>
public sealed class T5LayerSelfAttention
{
    private readonly T5LayerNorm _layerNorm;

    public T5LayerSelfAttention(WeightReader w, T5Config config, bool hasRelativeAttentionBias)
    {
        SelfAttention = new T5Attention(w.Scope("SelfAttention"), config, hasRelativeAttentionBias);
        _layerNorm = new T5LayerNorm(w.Scope("layer_norm"), config.DModel, config.LayerNormEpsilon);
    }

    public T5Attention SelfAttention { get; }

    public Tensor Forward(Tensor x, AttentionMaskArgs mask)
        => x.Backend.Add(x, SelfAttention.Forward(_layerNorm.Forward(x), mask));
}
