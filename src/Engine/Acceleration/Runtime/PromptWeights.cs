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
    /// that call tokenized, after the pipeline's preprocessing), scored by <paramref name="importance"/>.
    /// </summary>
    public static float[] ForEncoder(TokenImportance importance, IPromptTokenizer tokenizer, TokenizedPrompt prompt, string encodedText)
    {
        var style = tokenizer.Kind == TokenizerKind.Clip ? WordBoundaryStyle.TrailingEndOfWord : WordBoundaryStyle.LeadingSpaceMarker;
        PromptTokens tokens = PromptTokens.Align(prompt, tokenizer, encodedText, SpecialIds(tokenizer), style);
        return importance.Compute(tokens).Importance;
    }

    /// <summary>Equal weights on every text key (no prompt tokens known).</summary>
    public static float[] Uniform(int textTokens) => HeatMapAccumulator.UniformWeights(textTokens);
}
