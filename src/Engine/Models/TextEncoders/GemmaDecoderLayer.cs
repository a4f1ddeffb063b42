using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>GemmaDecoderLayer</c>, pre-norm: <c>x += self_attn(input_layernorm(x))</c>, then
/// <c>x += mlp(post_attention_layernorm(x))</c>.
/// </summary>
public sealed class GemmaDecoderLayer
{
    private readonly GemmaRmsNorm _inputLayernorm, _postAttentionLayernorm;
    private readonly GemmaAttention _selfAttn;
    private readonly GemmaMlp _mlp;

    public GemmaDecoderLayer(WeightReader w, GemmaConfig config)
    {
        _selfAttn = new GemmaAttention(w.Scope("self_attn"), config);
        _mlp = new GemmaMlp(w.Scope("mlp"), config);
        _inputLayernorm = new GemmaRmsNorm(w.Scope("input_layernorm"), config.HiddenSize, config.RmsNormEps);
        _postAttentionLayernorm = new GemmaRmsNorm(w.Scope("post_attention_layernorm"), config.HiddenSize, config.RmsNormEps);
    }

    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, AttentionMaskArgs mask)
    {
        IBackend be = x.Backend;
        x = be.Add(x, _selfAttn.Forward(_inputLayernorm.Forward(x), cos, sin, mask));
        return be.Add(x, _mlp.Forward(_postAttentionLayernorm.Forward(x)));
    }
}
