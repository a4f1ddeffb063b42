using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// What a text encoder's forward returns, with transformers' field names: <c>last_hidden_state</c>, the
/// <c>hidden_states</c> tuple (always collected: the entries are tensors the forward computes anyway), and for
/// CLIP <c>pooler_output</c> (CLIPTextModel) or <c>text_embeds</c> (CLIPTextModelWithProjection).
/// </summary>
public sealed record TextEncoderOutput(Tensor LastHiddenState, IReadOnlyList<Tensor> HiddenStates)
{
    /// <summary>CLIPTextModel: last_hidden_state at the pooled (EOS) position, [B, hidden].</summary>
    public Tensor? PoolerOutput { get; init; }

    /// <summary>CLIPTextModelWithProjection: text_projection(pooled), [B, projection_dim].</summary>
    public Tensor? TextEmbeds { get; init; }

    /// <summary>CLIP: the token position pooled in each row (not a transformers output; for checks and debugging).</summary>
    public IReadOnlyList<int>? PoolIndices { get; init; }

    /// <summary><c>hidden_states[index]</c> with Python indexing: −1 is the last entry, −2 the one before.</summary>
    public Tensor HiddenState(int index) => HiddenStates[HiddenStateIndex.Resolve(index, HiddenStates.Count)];

    /// <summary>
    /// The outputs under the names <c>accelaes forward</c> and the goldens use: <c>last_hidden_state</c>,
    /// <c>pooler_output</c> / <c>text_embeds</c> when present, <c>hidden_states.0</c> … <c>hidden_states.N</c>.
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> ToNamedOutputs()
    {
        var named = new Dictionary<string, Tensor>(StringComparer.Ordinal) { ["last_hidden_state"] = LastHiddenState };
        if (PoolerOutput is not null) named["pooler_output"] = PoolerOutput;
        if (TextEmbeds is not null) named["text_embeds"] = TextEmbeds;
        for (int i = 0; i < HiddenStates.Count; i++) named[$"hidden_states.{i}"] = HiddenStates[i];
        return named;
    }
}

/// <summary>Python-style indexing into a <c>hidden_states</c> tuple of a given length.</summary>
public static class HiddenStateIndex
{
    /// <summary>Maps −count…count−1 to 0…count−1, refusing anything else with the valid range.</summary>
    public static int Resolve(int index, int count)
    {
        int resolved = index < 0 ? index + count : index;
        if (resolved < 0 || resolved >= count)
            throw new AccelAesException(
                $"hidden_states[{index}] does not exist: the encoder returns {count} hidden states (indices {-count}…{count - 1}).");
        return resolved;
    }
}
