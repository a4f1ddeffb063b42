using Microsoft.ML.Tokenizers;
using AccelAes.Loader.Files;

namespace AccelAes.Loader.Tokenizers;

/// <summary>
/// The part T5 and Gemma share: a SentencePiece .model run by Microsoft.ML.Tokenizers'
/// <see cref="SentencePieceTokenizer"/> on each piece of text between added tokens, as transformers' slow
/// tokenizers call <c>sp_model.encode(piece)</c>. Two behaviours of the sentencepiece library that
/// Microsoft.ML.Tokenizers 2.0.1 lacks are added here: a run of unknown characters is one <c>&lt;unk&gt;</c>
/// (models without byte fallback), and USER_DEFINED pieces of BPE models are matched whole before merging.
/// </summary>
public abstract class SentencePieceTokenizerBase : PromptTokenizer
{
    private readonly SentencePieceTokenizer _sp;
    private readonly LiteralCutter? _userDefined;
    private readonly Dictionary<string, int> _pieceIds;

    private protected SentencePieceTokenizerBase(string source, SentencePieceModelFile model, SentencePieceTokenizer sp,
        IEnumerable<AddedToken> addedTokens, int? padTokenId, PaddingSide paddingSide, TokenizerFolderConfig config)
        : base(source, addedTokens, padTokenId, paddingSide, config.TruncateLeft, config.ModelMaxLength)
    {
        Model = model;
        _sp = sp;
        _pieceIds = PieceIds(model);
        if (model.IsBpe)
        {
            var userDefined = new LiteralCutter(model.Pieces.Where(p => p.Type == PieceType.UserDefined).Select(p => p.Piece));
            _userDefined = userDefined.IsEmpty ? null : userDefined;
        }
    }

    private protected SentencePieceModelFile Model { get; }

    /// <summary>Number of pieces in the .model file (added tokens such as T5's extra ids not counted).</summary>
    public int PieceCount => Model.Pieces.Count;

    /// <summary>The id of a piece of the .model file, as <c>sp_model.piece_to_id</c> finds it; null if absent.</summary>
    private protected int? PieceId(string piece) => _pieceIds.TryGetValue(piece, out int id) ? id : null;

    private protected static Dictionary<string, int> PieceIds(SentencePieceModelFile model)
    {
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < model.Pieces.Count; i++) ids.TryAdd(model.Pieces[i].Piece, i);
        return ids;
    }

    private protected static SentencePieceTokenizer CreateSentencePiece(SentencePieceModelFile model)
    {
        try
        {
            using var stream = new MemoryStream(model.BytesForMicrosoftMLTokenizers(), writable: false);
            return SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IndexOutOfRangeException
                                      or NotSupportedException or FormatException or KeyNotFoundException
                                      or Google.Protobuf.InvalidProtocolBufferException)
        {
            throw new TokenizerException($"SentencePiece model '{model.Path}' cannot be loaded: {e.Message}", e);
        }
    }

    private protected sealed override void TokenizePiece(string piece, List<int> ids, List<string> tokens)
    {
        // Python strings cannot hold unpaired surrogates; sentencepiece sees U+FFFD instead.
        string text = PythonText.ReplaceLoneSurrogates(piece);
        int first = ids.Count;
        if (_userDefined is null)
        {
            Append(_sp.EncodeToTokens(text, out _, addBeginningOfSentence: false, addEndOfSentence: false), ids, tokens, first);
            return;
        }

        // sentencepiece's BPE starts from the normalized text cut into characters, except that USER_DEFINED
        // pieces (longest match at each position) are single frozen symbols no merge crosses: so the normalized
        // text is cut at them and the parts between are encoded without normalizing again.
        string normalized = _sp.Normalizer is { } normalizer ? normalizer.Normalize(text) : text;
        foreach ((string part, bool userDefined) in _userDefined.Cut(normalized))
        {
            if (userDefined)
            {
                ids.Add(_pieceIds[part]);
                tokens.Add(part);
            }
            else
            {
                Append(_sp.EncodeToTokens(part, out _, addBeginningOfSentence: false, addEndOfSentence: false, considerNormalization: false),
                    ids, tokens, first);
            }
        }
    }

    private void Append(IReadOnlyList<EncodedToken> encoded, List<int> ids, List<string> tokens, int first)
    {
        foreach (EncodedToken t in encoded)
        {
            // sentencepiece merges a run of unknown pieces into one (SentencePieceProcessor::Encode); with byte
            // fallback unknown characters become byte pieces instead and this never applies.
            if (!Model.ByteFallback && t.Id == Model.UnkId && ids.Count > first && ids[^1] == Model.UnkId)
            {
                tokens[^1] += t.Value;
                continue;
            }

            ids.Add(t.Id);
            tokens.Add(t.Value);
        }
    }

    /// <summary>Finds the .model file in a folder, or says which names were looked for.</summary>
    private protected static string FindModelFile(string folder, string kind, params string[] names)
    {
        if (!Directory.Exists(folder)) throw new TokenizerException($"Tokenizer folder '{folder}' does not exist.");
        foreach (string name in names)
        {
            string path = Path.Combine(folder, name);
            if (InputFile.Exists(path)) return path;
        }

        throw new TokenizerException($"{kind} tokenizer folder '{folder}' has no SentencePiece model (looked for {string.Join(", ", names)}).");
    }
}

/// <summary>
/// T5's SentencePiece unigram tokenizer as transformers' slow <c>T5Tokenizer</c> runs it with
/// <c>legacy=True</c> (the behaviour when tokenizer_config.json does not set <c>legacy</c>): the
/// <c>nmt_nfkc</c> normalizer, dummy prefix and whitespace clean-up of the .model (done by
/// Microsoft.ML.Tokenizers from its precompiled charsmap), no byte fallback (unknown characters become
/// <c>&lt;unk&gt;</c>), <c>&lt;/s&gt;</c> appended unless the sequence already ends with it, and
/// <c>extra_ids</c> sentinels <c>&lt;extra_id_N&gt;</c> numbered downwards from the last id.
/// </summary>
/// <remarks>
/// <c>legacy=False</c> only changes how text right after a special token inside the prompt is tokenized
/// (no dummy prefix there); it is not implemented, the legacy ids are produced.
/// </remarks>
public sealed class T5Tokenizer : SentencePieceTokenizerBase
{
    public const string ModelFile = "spiece.model";

    private readonly int _eosId;

    private T5Tokenizer(string source, SentencePieceModelFile model, SentencePieceTokenizer sp, Dictionary<string, AddedToken> added,
        string eos, string? pad, TokenizerFolderConfig config)
        : base(source, model, sp, added.Values, pad is null ? null : added[pad].Id, config.PaddingSide ?? PaddingSide.Right, config)
    {
        _eosId = added[eos].Id;
    }

    public override TokenizerKind Kind => TokenizerKind.T5;

    public int EosTokenId => _eosId;

    private protected override int SpecialTokenCount => 1;

    /// <summary>T5Tokenizer._add_eos_if_not_present.</summary>
    private protected override int[] AddSpecialTokens(int[] ids)
    {
        if (ids.Length > 0 && ids[^1] == _eosId) return ids;
        var result = new int[ids.Length + 1];
        ids.CopyTo(result, 0);
        result[^1] = _eosId;
        return result;
    }

    /// <summary>
    /// Loads a T5 tokenizer folder: spiece.model (or tokenizer.model), plus tokenizer_config.json,
    /// special_tokens_map.json and added_tokens.json when present.
    /// </summary>
    public static T5Tokenizer FromFolder(string folder, TokenizerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string path = FindModelFile(folder, "T5", ModelFile, GemmaTokenizer.ModelFile);
        return Create(folder, SentencePieceModelFile.Read(path), TokenizerFolderConfig.Read(folder), options ?? new TokenizerOptions());
    }

    internal static T5Tokenizer Create(string source, SentencePieceModelFile model, TokenizerFolderConfig config, TokenizerOptions options)
    {
        TokenSpec? eos = config.HasEosToken ? config.EosToken : new TokenSpec("</s>");
        TokenSpec? unk = config.HasUnkToken ? config.UnkToken : new TokenSpec("<unk>");
        TokenSpec? pad = options.PadToken is not null ? new TokenSpec(options.PadToken) : config.HasPadToken ? config.PadToken : new TokenSpec("<pad>");
        if (eos is null) throw new TokenizerException($"T5 tokenizer in '{source}': eos_token must be set (T5 sequences end with it).");

        // T5Tokenizer.__init__: extra_ids sentinels, <extra_id_i> at len(sp_model) - 1 + extra_ids - i,
        // AddedToken(lstrip=True, rstrip=True, special=True).
        int extraIds = config.ExtraIds ?? 100;
        var sentinels = new List<AddedToken>();
        for (int i = 0; i < extraIds; i++)
        {
            sentinels.Add(new AddedToken($"<extra_id_{i}>", model.Pieces.Count - 1 + extraIds - i, LStrip: true, RStrip: true, Special: true));
        }

        Dictionary<string, int> pieceIds = PieceIds(model);
        var special = new List<TokenSpec?> { eos, unk, pad };
        special.AddRange(config.AdditionalSpecialTokens);
        Dictionary<string, AddedToken> added = AddedTokenTable.Build(
            sentinels, config, special, options.AddedTokens,
            s => pieceIds.TryGetValue(s, out int id) ? id : null,
            model.Pieces.Count + extraIds);

        return new T5Tokenizer(source, model, CreateSentencePiece(model), added, eos.Content, pad?.Content, config);
    }
}

/// <summary>
/// Gemma's SentencePiece BPE tokenizer as transformers' slow <c>GemmaTokenizer</c> runs it: identity
/// normalization (spaces become U+2581, kept as they are), no dummy prefix, digits split, byte fallback
/// (<c>&lt;0x00&gt;</c>..<c>&lt;0xFF&gt;</c>) for characters outside the vocabulary, <c>&lt;bos&gt;</c>
/// prepended (add_bos_token) and no <c>&lt;eos&gt;</c> (add_eos_token), both overridable by
/// tokenizer_config.json.
/// </summary>
/// <remarks>
/// Padding side: tokenizer_config.json's <c>padding_side</c> when present, else right, the slow
/// <c>GemmaTokenizer</c>'s default and what the conformance goldens use. transformers'
/// <c>GemmaTokenizerFast</c> (which <c>AutoTokenizer</c> returns when a fast tokenizer is available) has the
/// class default <c>padding_side="left"</c>; a Lumina checkpoint whose tokenizer_config.json does not say
/// would be left-padded by diffusers. <see cref="TokenizerCall.PaddingSide"/> can force either side.
/// </remarks>
public sealed class GemmaTokenizer : SentencePieceTokenizerBase
{
    public const string ModelFile = "tokenizer.model";

    private readonly int? _bosId;
    private readonly int? _eosId;

    private GemmaTokenizer(string source, SentencePieceModelFile model, SentencePieceTokenizer sp, Dictionary<string, AddedToken> added,
        int? bosId, int? eosId, int? eosTokenId, string? pad, TokenizerFolderConfig config)
        : base(source, model, sp, added.Values, pad is null ? null : added[pad].Id, config.PaddingSide ?? PaddingSide.Right, config)
    {
        _bosId = bosId;
        _eosId = eosId;
        EosTokenId = eosTokenId;
    }

    public override TokenizerKind Kind => TokenizerKind.Gemma;

    /// <summary>The bos id when add_bos_token is on, else null.</summary>
    public int? BosTokenId => _bosId;

    /// <summary>The eos token's id (a special id whether or not add_eos_token appends it), or null without an eos token.</summary>
    public int? EosTokenId { get; }

    private protected override int SpecialTokenCount => (_bosId is null ? 0 : 1) + (_eosId is null ? 0 : 1);

    private protected override int[] AddSpecialTokens(int[] ids)
    {
        var result = new List<int>(ids.Length + 2);
        if (_bosId is int bos) result.Add(bos);
        result.AddRange(ids);
        if (_eosId is int eos) result.Add(eos);
        return result.ToArray();
    }

    /// <summary>
    /// Loads a Gemma tokenizer folder: tokenizer.model, plus tokenizer_config.json,
    /// special_tokens_map.json and added_tokens.json when present.
    /// </summary>
    public static GemmaTokenizer FromFolder(string folder, TokenizerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string path = FindModelFile(folder, "Gemma", ModelFile);
        return Create(folder, SentencePieceModelFile.Read(path), TokenizerFolderConfig.Read(folder), options ?? new TokenizerOptions());
    }

    internal static GemmaTokenizer Create(string source, SentencePieceModelFile model, TokenizerFolderConfig config, TokenizerOptions options)
    {
        // GemmaTokenizer wraps these as AddedToken(normalized=False, special=True).
        TokenSpec? bos = config.HasBosToken ? config.BosToken : new TokenSpec("<bos>");
        TokenSpec? eos = config.HasEosToken ? config.EosToken : new TokenSpec("<eos>");
        TokenSpec? unk = config.HasUnkToken ? config.UnkToken : new TokenSpec("<unk>");
        TokenSpec? pad = options.PadToken is not null ? new TokenSpec(options.PadToken) : config.HasPadToken ? config.PadToken : new TokenSpec("<pad>");
        bool addBos = config.AddBosToken ?? true;
        bool addEos = config.AddEosToken ?? false;
        if (addBos && bos is null) throw new TokenizerException($"Gemma tokenizer in '{source}': add_bos_token is true but bos_token is not set.");
        if (addEos && eos is null) throw new TokenizerException($"Gemma tokenizer in '{source}': add_eos_token is true but eos_token is not set.");

        Dictionary<string, int> pieceIds = PieceIds(model);
        var special = new List<TokenSpec?> { bos, eos, unk, pad };
        special.AddRange(config.AdditionalSpecialTokens);
        Dictionary<string, AddedToken> added = AddedTokenTable.Build(
            [], config, special, options.AddedTokens,
            s => pieceIds.TryGetValue(s, out int id) ? id : null,
            model.Pieces.Count);

        return new GemmaTokenizer(source, model, CreateSentencePiece(model), added,
            addBos ? added[bos!.Content].Id : null, addEos ? added[eos!.Content].Id : null, eos is null ? null : added[eos.Content].Id,
            pad?.Content, config);
    }
}
