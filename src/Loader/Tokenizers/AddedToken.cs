namespace AccelAes.Loader.Tokenizers;

/// <summary>
/// A token matched literally in the text before the model's own tokenization: special tokens
/// (<c>&lt;|endoftext|&gt;</c>, <c>&lt;/s&gt;</c>, <c>&lt;extra_id_0&gt;</c>, a <c>pad_token</c> such as
/// SD3's <c>!</c>) and added tokens (textual inversion's <c>&lt;cat-toy&gt;</c>). The flags are those of
/// transformers' <c>AddedToken</c> as a slow tokenizer applies them.
/// </summary>
/// <param name="Content">The literal text.</param>
/// <param name="Id">Its id.</param>
/// <param name="LStrip">Eats the whitespace on its left.</param>
/// <param name="RStrip">Eats the whitespace on its right.</param>
/// <param name="SingleWord">Only matches as a whole word.</param>
/// <param name="Special">A special token (bos, eos, pad, ...), as opposed to a user-added one.</param>
public sealed record AddedToken(string Content, int Id, bool LStrip = false, bool RStrip = false, bool SingleWord = false, bool Special = false);

/// <summary>
/// Splits text on added tokens the way transformers' <c>PreTrainedTokenizer.tokenize</c> does: the
/// <c>Trie.split</c> cut (leftmost match, longest at that position), then the lstrip / rstrip /
/// single_word adjustments, in the same order, on the neighbouring text pieces.
/// </summary>
internal sealed class AddedTokenSplitter
{
    private readonly Dictionary<string, AddedToken> _byContent;
    private readonly LiteralCutter _cutter;

    public AddedTokenSplitter(IEnumerable<AddedToken> tokens)
    {
        _byContent = new Dictionary<string, AddedToken>(StringComparer.Ordinal);
        foreach (AddedToken t in tokens)
        {
            if (t.Content.Length > 0) _byContent[t.Content] = t;
        }

        _cutter = new LiteralCutter(_byContent.Keys);
    }

    public IReadOnlyCollection<AddedToken> Tokens => _byContent.Values;

    /// <summary>
    /// The pieces of <paramref name="text"/> in order: an added token (Token set) or a text piece to give
    /// to the model's tokenizer (Token null). Empty pieces are dropped.
    /// </summary>
    public List<(string Text, AddedToken? Token)> Split(string text)
    {
        List<string> pieces = _cutter.Cut(text).Select(p => p.Text).ToList();

        // transformers checks membership by string, after its own in-place edits; so do we.
        for (int i = 0; i < pieces.Count; i++)
        {
            if (!_byContent.TryGetValue(pieces[i], out AddedToken? token)) continue;
            string? left = i > 0 ? pieces[i - 1] : null;
            string? right = i < pieces.Count - 1 ? pieces[i + 1] : null;
            if (token.RStrip && !string.IsNullOrEmpty(right)) pieces[i + 1] = PythonText.LStrip(right);
            if (token.LStrip && !string.IsNullOrEmpty(left)) pieces[i - 1] = PythonText.RStrip(left);
            if (token.SingleWord && !string.IsNullOrEmpty(left) && left[^1] != ' ')
            {
                pieces[i - 1] += pieces[i];
                pieces[i] = "";
            }
            else if (token.SingleWord && !string.IsNullOrEmpty(right) && right[0] != ' ')
            {
                pieces[i + 1] = pieces[i] + pieces[i + 1];
                pieces[i] = "";
            }
        }

        var result = new List<(string, AddedToken?)>(pieces.Count);
        foreach (string p in pieces)
        {
            if (p.Length == 0) continue;
            result.Add((p, _byContent.TryGetValue(p, out AddedToken? t) ? t : null));
        }

        return result;
    }
}

/// <summary>
/// Builds a tokenizer's added-token table the way transformers' <c>from_pretrained</c> and
/// <c>PreTrainedTokenizer.__init__</c> do: the class's own added tokens, then the folder's
/// (added_tokens.json, then tokenizer_config.json's <c>added_tokens_decoder</c>, by id), then every special
/// token not yet there (its vocabulary id, or the next free id), then the caller's added tokens.
/// </summary>
internal static class AddedTokenTable
{
    public static Dictionary<string, AddedToken> Build(
        IEnumerable<AddedToken> classTokens,
        TokenizerFolderConfig config,
        IEnumerable<TokenSpec?> specialTokens,
        IReadOnlyList<string> userTokens,
        Func<string, int?> vocabularyId,
        int vocabularySize)
    {
        var byId = new SortedDictionary<int, AddedToken>();
        foreach (AddedToken t in classTokens) byId[t.Id] = t;
        var additional = new HashSet<string>(config.AdditionalSpecialTokens.Select(s => s.Content), StringComparer.Ordinal);
        foreach ((int id, TokenSpec spec) in config.AddedTokens)
        {
            byId[id] = new AddedToken(
                spec.Content, id, spec.LStrip ?? false, spec.RStrip ?? false, spec.SingleWord ?? false,
                spec.Special ?? additional.Contains(spec.Content));
        }

        var byContent = new Dictionary<string, AddedToken>(StringComparer.Ordinal);
        foreach (AddedToken t in byId.Values) byContent[t.Content] = t;
        int next = Math.Max(vocabularySize, byId.Count == 0 ? 0 : byId.Keys.Max() + 1);

        foreach (TokenSpec? spec in specialTokens)
        {
            if (spec is null || spec.Content.Length == 0 || byContent.ContainsKey(spec.Content)) continue;
            int id = vocabularyId(spec.Content) ?? next++;
            byContent[spec.Content] = new AddedToken(spec.Content, id, spec.LStrip ?? false, spec.RStrip ?? false, spec.SingleWord ?? false, Special: true);
        }

        foreach (string content in userTokens)
        {
            if (string.IsNullOrEmpty(content) || byContent.ContainsKey(content)) continue;
            int id = vocabularyId(content) ?? next++;
            byContent[content] = new AddedToken(content, id);
        }

        return byContent;
    }
}
