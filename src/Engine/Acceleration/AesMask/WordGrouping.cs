using AccelAes.Loader.Tokenizers;

namespace AccelAes.Engine.Acceleration.AesMask;

/// <summary>How a tokenizer marks word boundaries in its token strings.</summary>
public enum WordBoundaryStyle
{
    /// <summary>
    /// SentencePiece (Gemma, T5): a token starting with <c>"▁"</c> or <c>" "</c> starts a new word (the marker is
    /// stripped); other tokens continue the current word (punctuation attaches to the preceding word). The
    /// reference's <c>_group_tokens_to_words</c>.
    /// </summary>
    LeadingSpaceMarker,

    /// <summary>
    /// CLIP byte-level BPE: a token ending with <c>&lt;/w&gt;</c> ends the current word (the marker is removed).
    /// Punctuation is its own token there, so <c>"detailed,"</c> becomes two words (<c>","</c> is then a stop word).
    /// </summary>
    TrailingEndOfWord,
}

/// <summary>One word of the prompt as the generation encoder's tokens spell it.</summary>
/// <param name="Text">The word text (unstripped: punctuation attached, boundary markers removed).</param>
/// <param name="Positions">The token positions (into the encoder's input ids) the word spans.</param>
public sealed record PromptWord(string Text, int[] Positions);

/// <summary>
/// The tokens the generation encoder actually sees, one entry per input position: the token's text, or null for a
/// special token (bos / eos / pad — only those, as in the reference: any other special token such as
/// <c>&lt;unk&gt;</c> is text and joins its neighbours), and the encoder's attention mask.
/// </summary>
/// <remarks>
/// DESIGN §5: word importance is computed on the ids fed to the encoder, so importance positions are the
/// attention columns. The reference tokenises the raw prompt instead while Lumina's encoder sees the
/// lower-cased one, which shifts positions for prompts with capitals (accelaes-reference-code.md §7.12).
/// </remarks>
public sealed class PromptTokens
{
    public PromptTokens(IReadOnlyList<string?> texts, IReadOnlyList<int> attentionMask, WordBoundaryStyle style = WordBoundaryStyle.LeadingSpaceMarker)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(attentionMask);
        if (texts.Count != attentionMask.Count)
            throw new ArgumentException($"{texts.Count} token texts but an attention mask of {attentionMask.Count}.");
        Texts = texts;
        AttentionMask = attentionMask;
        Style = style;
    }

    /// <summary>Per position: the token text, or null for bos / eos / pad.</summary>
    public IReadOnlyList<string?> Texts { get; }

    /// <summary>Per position: 1 for real tokens (special tokens included), 0 for padding.</summary>
    public IReadOnlyList<int> AttentionMask { get; }

    public WordBoundaryStyle Style { get; }

    /// <summary>Sequence length (the number of text key columns).</summary>
    public int Count => Texts.Count;

    /// <summary>
    /// Per-position texts of an encoder's input ids: ids in <paramref name="specialIds"/> are null, the others are
    /// <paramref name="tokenText"/>(id).
    /// </summary>
    public static PromptTokens FromIds(IReadOnlyList<int> inputIds, IReadOnlyList<int> attentionMask, IReadOnlySet<int> specialIds,
        Func<int, string> tokenText, WordBoundaryStyle style = WordBoundaryStyle.LeadingSpaceMarker)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        ArgumentNullException.ThrowIfNull(specialIds);
        ArgumentNullException.ThrowIfNull(tokenText);
        var texts = new string?[inputIds.Count];
        for (int p = 0; p < texts.Length; p++) texts[p] = specialIds.Contains(inputIds[p]) ? null : tokenText(inputIds[p]);
        return new PromptTokens(texts, attentionMask, style);
    }

    /// <summary>
    /// Aligns a tokenizer call's result with the token strings of the text it tokenized:
    /// <paramref name="encodedText"/> must be the text the call tokenized, after the pipeline's preprocessing (Lumina:
    /// lower-cased and stripped). Content tokens are matched in order (truncation keeps a prefix); positions holding
    /// a special id are null.
    /// </summary>
    /// <exception cref="AccelAesException">An id is neither the next content token nor a special id.</exception>
    public static PromptTokens Align(TokenizedPrompt prompt, IPromptTokenizer tokenizer, string encodedText, IReadOnlySet<int> specialIds,
        WordBoundaryStyle style = WordBoundaryStyle.LeadingSpaceMarker)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(specialIds);
        int[] contentIds = tokenizer.EncodeToIds(encodedText);
        IReadOnlyList<string> contentTokens = tokenizer.Tokenize(encodedText);
        if (contentIds.Length != contentTokens.Count)
            throw new AccelAesException($"The tokenizer in '{tokenizer.Source}' gives {contentIds.Length} ids but {contentTokens.Count} token strings for the same text.");
        var texts = new string?[prompt.InputIds.Length];
        int c = 0;
        for (int p = 0; p < texts.Length; p++)
        {
            int id = prompt.InputIds[p];
            bool special = specialIds.Contains(id);
            if (c < contentIds.Length && id == contentIds[c])
            {
                texts[p] = special ? null : contentTokens[c];
                c++;
            }
            else if (special)
            {
                texts[p] = null;
            }
            else
            {
                throw new AccelAesException(
                    $"Token position {p} holds id {id}, which is neither the next token of the encoded text nor a special id; " +
                    "the text given is not the text the encoder's tokenizer call tokenized.");
            }
        }

        return new PromptTokens(texts, prompt.AttentionMask, style);
    }
}

/// <summary>Groups the encoder's tokens into words (the reference's <c>_group_tokens_to_words</c>).</summary>
public static class WordGrouping
{
    /// <summary>The words of <paramref name="tokens"/>, in order; special positions (null) close the current word.</summary>
    public static IReadOnlyList<PromptWord> Group(PromptTokens tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        return Group(tokens.Texts, tokens.Style);
    }

    /// <summary>The words of per-position token texts (null = special token).</summary>
    public static IReadOnlyList<PromptWord> Group(IReadOnlyList<string?> texts, WordBoundaryStyle style = WordBoundaryStyle.LeadingSpaceMarker)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var words = new List<PromptWord>();
        System.Text.StringBuilder? text = null;
        List<int>? positions = null;

        void Close()
        {
            if (text is null) return;
            words.Add(new PromptWord(text.ToString(), positions!.ToArray()));
            text = null;
            positions = null;
        }

        for (int p = 0; p < texts.Count; p++)
        {
            string? s = texts[p];
            if (s is null)
            {
                Close();
                continue;
            }

            if (style == WordBoundaryStyle.LeadingSpaceMarker)
            {
                if (s.Length > 0 && (s[0] == ' ' || s[0] == '\u2581'))
                {
                    Close();
                    text = new System.Text.StringBuilder(s.TrimStart(' ', '\u2581'));
                    positions = [p];
                }
                else if (text is null)
                {
                    text = new System.Text.StringBuilder(s);
                    positions = [p];
                }
                else
                {
                    text.Append(s);
                    positions!.Add(p);
                }
            }
            else
            {
                const string endOfWord = "</w>";
                bool ends = s.EndsWith(endOfWord, StringComparison.Ordinal);
                string piece = ends ? s[..^endOfWord.Length] : s;
                text ??= new System.Text.StringBuilder();
                positions ??= [];
                text.Append(piece);
                positions.Add(p);
                if (ends) Close();
            }
        }

        Close();
        return words;
    }
}
