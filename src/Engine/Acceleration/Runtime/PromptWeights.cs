using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Engine.Acceleration.Runtime;

/// <summary>
/// AesMask's text-key weights for a prompt: the token importance of each encoder's tokens, laid out as the text
/// keys the transformer sees (SD3: 77 CLIP columns then the T5 columns; FLUX: the T5 columns; Lumina: the Gemma
/// columns). Without a prompt (sampling from precomputed embeddings) every text key weighs the same.
/// </summary>
public static class PromptWeights
{
    /// <summary>The ids a tokenizer adds around or after the content (never part of a word).</summary>
    public static IReadOnlySet<int> SpecialIds(IPromptTokenizer tokenizer)
    {
        var ids = new HashSet<int>();
        if (tokenizer.PadTokenId is int pad) ids.Add(pad);
        switch (tokenizer)
        {
            case ClipTokenizer clip:
                ids.Add(clip.BosTokenId);
                ids.Add(clip.EosTokenId);
                break;
            case GemmaTokenizer gemma:
                if (gemma.BosTokenId is int b) ids.Add(b);
                if (gemma.EosTokenId is int e) ids.Add(e);
                break;
            case T5Tokenizer t5:
                ids.Add(t5.EosTokenId);
                break;
        }
        return ids;
    }

    /// <summary>
    /// Importance of one encoder's tokens: the words of the ids it was fed (<paramref name="encodedText"/> is the text
    /// that call tokenized, after the pipeline's preprocessing), scored by <paramref name="importance"/> under <paramref name="rule"/>.
    /// </summary>
    public static TokenImportanceResult ForEncoder(TokenImportance importance, IPromptTokenizer tokenizer, TokenizedPrompt prompt, string encodedText,
        WordScoringRule rule)
    {
        var style = tokenizer.Kind == TokenizerKind.Clip ? WordBoundaryStyle.TrailingEndOfWord : WordBoundaryStyle.LeadingSpaceMarker;
        PromptTokens tokens = PromptTokens.Align(prompt, tokenizer, encodedText, SpecialIds(tokenizer), style);
        return importance.Compute(tokens, rule);
    }

    /// <summary>Non-aesthetic weighting: the weight of a position whose anchor importance is above <see cref="NonAestheticCut"/>.</summary>
    public const float NonAestheticAestheticWeight = 0.02f;

    /// <summary>Non-aesthetic weighting: anchor importance above this counts as aesthetic (the reference ablation's 0.5).</summary>
    public const float NonAestheticCut = 0.5f;

    /// <summary>
    /// The text-key weights of a prompt: the encoders' segments in the order the transformer sees their columns, under
    /// <paramref name="weighting"/> (the paper's Table 8): anchor-aware — each segment's importance; uniform — 1/L on
    /// all L columns (padding, special tokens and stop words included, as the reference's <c>importance=None</c>);
    /// non-aesthetic — 0.02 where the importance is above 0.5, 1 on every other prompt token, 0 on special tokens and
    /// padding (the reference's ablation script).
    /// </summary>
    public static float[] TextKeys(IReadOnlyList<TokenImportanceResult> segments, TokenWeighting weighting)
    {
        ArgumentNullException.ThrowIfNull(segments);
        int columns = segments.Sum(s => s.Importance.Length);
        if (columns == 0) throw new ArgumentException("A prompt has at least one text key column.", nameof(segments));
        if (weighting == TokenWeighting.Uniform) return Uniform(columns);
        var weights = new float[columns];
        int offset = 0;
        foreach (TokenImportanceResult segment in segments)
        {
            for (int p = 0; p < segment.Importance.Length; p++)
            {
                weights[offset + p] = weighting switch
                {
                    TokenWeighting.Anchor => segment.Importance[p],
                    TokenWeighting.NonAesthetic => segment.ContentMask[p] == 0 ? 0f
                        : segment.Importance[p] > NonAestheticCut ? NonAestheticAestheticWeight : 1f,
                    _ => throw new ArgumentOutOfRangeException(nameof(weighting), weighting, "unknown token weighting"),
                };
            }
            offset += segment.Importance.Length;
        }
        return weights;
    }

    /// <summary>Equal weights on every text key (no prompt tokens known).</summary>
    public static float[] Uniform(int textTokens) => HeatMapAccumulator.UniformWeights(textTokens);
}
