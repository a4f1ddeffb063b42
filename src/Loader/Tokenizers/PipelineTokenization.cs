namespace AccelAes.Loader.Tokenizers;

/// <summary>The conditional and unconditional token batches of one Lumina-Next generation.</summary>
/// <param name="Conditional">The prompts, padded together (length a multiple of 8, at most 256).</param>
/// <param name="Unconditional">The negative prompts at the same length, or null without guidance.</param>
public sealed record LuminaTokens(IReadOnlyList<TokenizedPrompt> Conditional, IReadOnlyList<TokenizedPrompt>? Unconditional)
{
    /// <summary>The common sequence length of both batches.</summary>
    public int Length => Conditional.Count == 0 ? 0 : Conditional[0].Length;
}

/// <summary>Pipeline-level tokenization where a pipeline does more than one tokenizer call.</summary>
public static class PipelineTokenization
{
    /// <summary>
    /// Lumina-Next's <c>encode_prompt</c>: the prompts go through <see cref="TokenizerCall.Lumina"/> as one
    /// batch (lower-cased, stripped, padded to the longest rounded up to 8, truncated at 256); with guidance,
    /// the negative prompts (default "" for each prompt, not lower-cased) are padded or truncated to exactly
    /// that length (<see cref="TokenizerCall.LuminaNegative"/>), so both batches stack.
    /// </summary>
    public static LuminaTokens EncodeLumina(IPromptTokenizer gemma, IReadOnlyList<string> prompts,
        IReadOnlyList<string>? negativePrompts = null, bool classifierFreeGuidance = true)
    {
        ArgumentNullException.ThrowIfNull(gemma);
        ArgumentNullException.ThrowIfNull(prompts);
        IReadOnlyList<TokenizedPrompt> conditional = gemma.EncodeBatch(prompts, TokenizerCall.Lumina);
        if (!classifierFreeGuidance) return new LuminaTokens(conditional, null);

        negativePrompts ??= Enumerable.Repeat("", prompts.Count).ToArray();
        if (negativePrompts.Count != prompts.Count)
        {
            throw new TokenizerException(
                $"{negativePrompts.Count} negative prompt(s) for {prompts.Count} prompt(s); give one negative prompt per prompt.");
        }

        int length = conditional.Count == 0 ? 0 : conditional[0].Length;
        IReadOnlyList<TokenizedPrompt> unconditional = length == 0 ? [] : gemma.EncodeBatch(negativePrompts, TokenizerCall.LuminaNegative(length));
        return new LuminaTokens(conditional, unconditional);
    }
}
