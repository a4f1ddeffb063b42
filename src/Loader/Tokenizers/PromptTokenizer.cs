namespace AccelAes.Loader.Tokenizers;

/// <summary>Options a caller can add on top of what the tokenizer folder says.</summary>
public sealed record TokenizerOptions
{
    /// <summary>
    /// Replaces the folder's <c>pad_token</c> (transformers' <c>pad_token=</c> argument). The token becomes a
    /// special added token, so it is also split out of prompt text (SD3's <c>tokenizer_2</c> uses <c>"!"</c>).
    /// </summary>
    public string? PadToken { get; init; }

    /// <summary>
    /// Tokens added after loading, in order, as <c>tokenizer.add_tokens(...)</c> does (textual inversion):
    /// matched literally before the model tokenizes the rest; new ones get the next free ids.
    /// </summary>
    public IReadOnlyList<string> AddedTokens { get; init; } = [];
}

/// <summary>
/// The part every tokenizer shares, following transformers' slow <c>PreTrainedTokenizer</c>: split the
/// text on added tokens, tokenize the pieces between them, add the special tokens, truncate (keeping the
/// special tokens) and pad.
/// </summary>
public abstract class PromptTokenizer : IPromptTokenizer
{
    private readonly AddedTokenSplitter _splitter;

    private protected PromptTokenizer(string source, IEnumerable<AddedToken> addedTokens, int? padTokenId, PaddingSide paddingSide, bool truncateLeft, int? modelMaxLength)
    {
        Source = source;
        _splitter = new AddedTokenSplitter(addedTokens);
        PadTokenId = padTokenId;
        PaddingSide = paddingSide;
        TruncateLeft = truncateLeft;
        ModelMaxLength = modelMaxLength;
    }

    public abstract TokenizerKind Kind { get; }

    public string Source { get; }

    /// <summary>The id used for padding; null when the tokenizer has no pad token (padding is then refused).</summary>
    public int? PadTokenId { get; }

    public PaddingSide PaddingSide { get; }

    /// <summary>tokenizer_config.json's <c>truncation_side == "left"</c>.</summary>
    public bool TruncateLeft { get; }

    public int? ModelMaxLength { get; }

    /// <summary>The added and special tokens matched literally in the text.</summary>
    public IReadOnlyCollection<AddedToken> AddedTokens => _splitter.Tokens;

    /// <summary>How many ids <see cref="AddSpecialTokens"/> adds to an empty sequence.</summary>
    private protected abstract int SpecialTokenCount { get; }

    /// <summary>The model's <c>build_inputs_with_special_tokens</c>.</summary>
    private protected abstract int[] AddSpecialTokens(int[] ids);

    /// <summary>The model tokenization of a piece of text that contains no added token.</summary>
    private protected abstract void TokenizePiece(string piece, List<int> ids, List<string> tokens);

    public int[] EncodeToIds(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        Run(text, ids, new List<string>());
        return ids.ToArray();
    }

    public IReadOnlyList<string> Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = new List<string>();
        Run(text, new List<int>(), tokens);
        return tokens;
    }

    private void Run(string text, List<int> ids, List<string> tokens)
    {
        foreach ((string piece, AddedToken? token) in _splitter.Split(text))
        {
            if (token is not null)
            {
                ids.Add(token.Id);
                tokens.Add(token.Content);
            }
            else
            {
                TokenizePiece(piece, ids, tokens);
            }
        }
    }

    public TokenizedPrompt Encode(string prompt, TokenizerCall call) => EncodeBatch([prompt], call)[0];

    public IReadOnlyList<TokenizedPrompt> EncodeBatch(IReadOnlyList<string> prompts, TokenizerCall call)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(call);
        int? maxLength = call.MaxLength ?? ModelMaxLength;
        int specials = call.AddSpecialTokens ? SpecialTokenCount : 0;
        Validate(call, maxLength, specials);

        var rows = new (int[] Ids, bool Truncated, int Untruncated)[prompts.Count];
        for (int b = 0; b < prompts.Count; b++)
        {
            string text = prompts[b] ?? throw new ArgumentNullException(nameof(prompts), $"prompt {b} is null");
            if (call.Preprocessing == PromptPreprocessing.LowerCaseAndStrip) text = PythonText.Strip(PythonText.ToLower(text));

            int[] content = EncodeToIds(text);
            int untruncated = call.AddSpecialTokens ? AddSpecialTokens(content).Length : content.Length;
            bool truncated = false;
            if (call.Truncation && maxLength is int max && content.Length + specials > max)
            {
                // transformers removes (total - max_length) content tokens, then adds the special tokens.
                int remove = content.Length + specials - max;
                content = TruncateLeft ? content[remove..] : content[..^remove];
                truncated = true;
            }

            rows[b] = (call.AddSpecialTokens ? AddSpecialTokens(content) : content, truncated, untruncated);
        }

        int? target = call.Padding switch
        {
            PaddingStrategy.None => null,
            PaddingStrategy.Longest => rows.Length == 0 ? 0 : rows.Max(r => r.Ids.Length),
            PaddingStrategy.MaxLength => maxLength,
            _ => throw new ArgumentOutOfRangeException(nameof(call), call.Padding, "unknown padding strategy"),
        };
        if (target is int t && call.PadToMultipleOf is int multiple && t % multiple != 0) target = (t / multiple + 1) * multiple;

        PaddingSide side = call.PaddingSide ?? PaddingSide;
        var result = new TokenizedPrompt[rows.Length];
        for (int b = 0; b < rows.Length; b++)
        {
            int[] ids = rows[b].Ids;
            int length = target is int len && len > ids.Length ? len : ids.Length;
            var padded = new int[length];
            var mask = new int[length];
            int offset = side == PaddingSide.Left ? length - ids.Length : 0;
            if (length > ids.Length)
            {
                int pad = PadTokenId ?? throw new TokenizerException(
                    $"The tokenizer in '{Source}' has no pad token, so it cannot pad; the call asks for {call.Padding} padding.");
                Array.Fill(padded, pad);
            }

            ids.CopyTo(padded, offset);
            Array.Fill(mask, 1, offset, ids.Length);
            result[b] = new TokenizedPrompt(padded, mask, rows[b].Truncated, rows[b].Untruncated);
        }

        return result;
    }

    private void Validate(TokenizerCall call, int? maxLength, int specials)
    {
        if (call.MaxLength is <= 0) throw new TokenizerException($"Tokenizer call: MaxLength must be positive, got {call.MaxLength}.");
        if (call.PadToMultipleOf is <= 0) throw new TokenizerException($"Tokenizer call: PadToMultipleOf must be positive, got {call.PadToMultipleOf}.");
        if (call.Padding == PaddingStrategy.MaxLength && maxLength is null)
        {
            throw new TokenizerException(
                $"Tokenizer call: padding to max length needs MaxLength, and the tokenizer in '{Source}' has no model_max_length.");
        }

        if (call.Truncation && maxLength is int max && max <= specials)
        {
            throw new TokenizerException(
                $"Tokenizer call: MaxLength {max} leaves no room for text next to the {specials} special token(s) of the tokenizer in '{Source}'.");
        }
    }
}
