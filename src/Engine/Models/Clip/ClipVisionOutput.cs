using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Clip;

/// <summary>
/// What the CLIP vision tower returns, with transformers' field names: <c>last_hidden_state</c> (the encoder output,
/// not normalised), the <c>hidden_states</c> tuple (after pre_layrnorm, then after each layer), <c>pooler_output</c>
/// (post_layernorm of the class token) and, with a projection, <c>image_embeds</c>.
/// </summary>
public sealed record ClipVisionOutput(Tensor LastHiddenState, Tensor PoolerOutput, IReadOnlyList<Tensor> HiddenStates)
{
    /// <summary>CLIPVisionModelWithProjection: visual_projection(pooler_output), [B, projection_dim], not normalised.</summary>
    public Tensor? ImageEmbeds { get; init; }

    /// <summary>
    /// The outputs under the names <c>accelaes forward</c> writes: <c>image_embeds</c> when projected (transformers'
    /// <c>CLIPVisionModelOutput</c>, which has no pooler), else <c>pooler_output</c>; <c>last_hidden_state</c>;
    /// <c>hidden_states.0</c> … <c>hidden_states.N</c>.
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> ToNamedOutputs()
    {
        var named = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        if (ImageEmbeds is not null) named["image_embeds"] = ImageEmbeds;
        else named["pooler_output"] = PoolerOutput;
        named["last_hidden_state"] = LastHiddenState;
        for (int i = 0; i < HiddenStates.Count; i++) named[$"hidden_states.{i}"] = HiddenStates[i];
        return named;
    }
}
