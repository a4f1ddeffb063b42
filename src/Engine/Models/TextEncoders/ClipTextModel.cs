using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>CLIPTextModel</c>: the text tower under <c>text_model.</c>, returning <c>last_hidden_state</c>,
/// <c>pooler_output</c> and <c>hidden_states</c>. FLUX's <c>text_encoder</c> (it takes <c>pooler_output</c>).
/// </summary>
public sealed class ClipTextModel
{
    public ClipTextModel(WeightReader w, ClipTextConfig config)
        => TextModel = new ClipTextTransformer(w.Scope("text_model"), config);

    public ClipTextTransformer TextModel { get; }

    public ClipTextConfig Config => TextModel.Config;

    public TextEncoderOutput Forward(TokenGrid inputIds, TokenGrid? attentionMask = null)
        => TextModel.Forward(inputIds, attentionMask);
}
