using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.Clip;

/// <summary>
/// transformers <c>CLIPVisionTransformer</c> (the <c>vision_model</c> module): embeddings, <c>pre_layrnorm</c> (sic,
/// the checkpoint key), the shared CLIP encoder without any mask (every patch sees every patch), and
/// <c>post_layernorm</c> on the class token for the pooled output. <c>last_hidden_state</c> is the encoder output
/// itself: unlike the text tower, the vision tower normalises only the pooled token.
/// </summary>
public sealed class ClipVisionTransformer
{
    private static readonly AttentionMaskArgs NoMask = new(null, false, null);

    private readonly ClipVisionEmbeddings _embeddings;
    private readonly ClipEncoder _encoder;
    private readonly Tensor _preLayerNormWeight, _preLayerNormBias, _postLayerNormWeight, _postLayerNormBias;

    public ClipVisionTransformer(WeightReader w, ClipVisionConfig config)
    {
        Config = config;
        int d = config.HiddenSize;
        _embeddings = new ClipVisionEmbeddings(w.Scope("embeddings"), config);
        _preLayerNormWeight = w.Get("pre_layrnorm.weight", d);
        _preLayerNormBias = w.Get("pre_layrnorm.bias", d);
        _encoder = new ClipEncoder(w.Scope("encoder"), config);
        _postLayerNormWeight = w.Get("post_layernorm.weight", d);
        _postLayerNormBias = w.Get("post_layernorm.bias", d);
    }

    public ClipVisionConfig Config { get; }

    /// <summary>pixel_values [B, C, S, S] → last_hidden_state [B, 1 + (S/p)², D], pooler_output [B, D], hidden_states.</summary>
    public ClipVisionOutput Forward(Tensor pixelValues)
    {
        IBackend be = _preLayerNormWeight.Backend;
        float eps = (float)Config.LayerNormEps;
        Tensor x = be.LayerNorm(_embeddings.Forward(pixelValues), eps, _preLayerNormWeight, _preLayerNormBias);
        List<Tensor> hiddenStates = _encoder.Forward(x, NoMask, _encoder.NumLayers);
        Tensor last = hiddenStates[^1];
        Tensor classToken = be.Slice(last, 1, 0, 1).Reshape(last.Shape[0], last.Shape[2]);
        Tensor pooled = be.LayerNorm(classToken, eps, _postLayerNormWeight, _postLayerNormBias);
        return new ClipVisionOutput(last, pooled, hiddenStates);
    }
}
