using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>CLIPTextModelWithProjection</c>: the text tower plus <c>text_projection</c> (no bias) applied
/// to the pooled output. Returns <c>text_embeds</c>, <c>last_hidden_state</c> and <c>hidden_states</c>, like
/// transformers' <c>CLIPTextModelOutput</c>, which has no <c>pooler_output</c>. SD3's <c>text_encoder</c> and
/// <c>text_encoder_2</c>.
/// </summary>
public sealed class ClipTextModelWithProjection
{
    private readonly LinearLayer _textProjection;

    public ClipTextModelWithProjection(WeightReader w, ClipTextConfig config)
    {
        TextModel = new ClipTextTransformer(w.Scope("text_model"), config);
        _textProjection = LinearLayer.Load(w, "text_projection", config.HiddenSize, config.ProjectionDim, bias: false);
    }

    public ClipTextTransformer TextModel { get; }

    public ClipTextConfig Config => TextModel.Config;

    public TextEncoderOutput Forward(TokenGrid inputIds, TokenGrid? attentionMask = null)
    {
        TextEncoderOutput text = TextModel.Forward(inputIds, attentionMask);
        return text with { PoolerOutput = null, TextEmbeds = _textProjection.Forward(text.PoolerOutput!) };
    }
}
