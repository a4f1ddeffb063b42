namespace AccelAes.Engine.Acceleration.AesMask;

/// <summary>
/// The text encoder AesMask scores words with: CLIP ViT-L/14's text tower (<c>openai/clip-vit-large-patch14</c>,
/// the <c>text_encoder</c> of SD3 and FLUX; Lumina needs a path to one).
/// </summary>
/// <remarks>
/// Contract (accelaes-reference-code.md §1.2, §1.3 step 3): the phrases are tokenised as one batch with CLIP's
/// tokenizer (bos, content, eos, padding to the longest, truncation at 77); each phrase's embedding is the mean of
/// <c>last_hidden_state</c> (after <c>final_layer_norm</c>) over its content tokens only — bos, eos and padding
/// excluded (CLIP's eos id is also its pad id) — then L2-normalised. Not the pooled (eos) output, not the
/// projection. CLIP's causal mask makes padding irrelevant to content states, so phrases may also be encoded one
/// by one. The reference runs the encoder in fp16; fp32 or bf16 is fine for the engine.
/// </remarks>
public interface IPhraseEmbedder
{
    /// <summary>One unit-length embedding per phrase, in order, all of the same dimension.</summary>
    float[][] EmbedPhrases(IReadOnlyList<string> phrases);

    /// <summary>
    /// Identifies the encoder weights (e.g. the hex SHA-256 of its safetensors file) so the anchor table can be cached
    /// on disk; null (the default) disables the disk cache.
    /// </summary>
    string? WeightsKey => null;
}
