using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;
using AccelAes.Loader.Files;
using AccelAes.Loader.Validation;

namespace AccelAes.Loader.Tokenizers;

/// <summary>
/// CLIP's byte-level BPE, as transformers' slow <c>CLIPTokenizer</c> runs it without <c>ftfy</c> installed
/// (the path of the conformance goldens): text clean-up by <c>BasicTokenizer(strip_accents=False,
/// do_split_on_punc=False)</c> (control characters dropped, whitespace unified, CJK ideographs spaced, NFC,
/// whitespace split, <c>str.lower()</c>), CLIP's pre-tokenizer regex, UTF-8 bytes mapped to
/// <c>bytes_to_unicode</c> symbols with <c>&lt;/w&gt;</c> on the last one, then BPE by merge rank
/// (Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>). Sequences are <c>&lt;|startoftext|&gt; ...
/// &lt;|endoftext|&gt;</c>; truncation keeps the end token.
/// </summary>
/// <remarks>
/// With ftfy installed, transformers would instead run <c>ftfy.fix_text</c> (fixing mojibake, replacing
/// ligatures and full-width forms) and not space CJK characters; ASCII prompts are the same on both paths.
/// </remarks>
public sealed class ClipTokenizer : PromptTokenizer
{
    public const string VocabFile = "vocab.json";
    public const string MergesFile = "merges.txt";

    // transformers keeps merges.txt lines [1 : 49152 - 256 - 2 + 1]: the header line is skipped and at most
    // 48894 merges are read.
    private const int MaxMerges = 49152 - 256 - 2;
    private const string StartOfText = "<|startoftext|>";
    private const string EndOfText = "<|endoftext|>";

    private static readonly string[] ByteSymbols = BuildByteSymbols();

    private readonly BpeTokenizer _bpe;
    private readonly Dictionary<string, int> _vocab;
    private readonly int _bosId;
    private readonly int _eosId;
    private readonly int? _unkId;

    private ClipTokenizer(string source, BpeTokenizer bpe, Dictionary<string, int> vocab, Dictionary<string, AddedToken> added,
        string bos, string eos, string? unk, string? pad, TokenizerFolderConfig config)
        : base(source, added.Values, pad is null ? null : added[pad].Id, config.PaddingSide ?? PaddingSide.Right, config.TruncateLeft,
               config.ModelMaxLength)
    {
        _bpe = bpe;
        _vocab = vocab;
        _bosId = added[bos].Id;
        _eosId = added[eos].Id;
        _unkId = unk is null ? null : added[unk].Id;
    }

    public override TokenizerKind Kind => TokenizerKind.Clip;

    public int BosTokenId => _bosId;

    public int EosTokenId => _eosId;

    /// <summary>Size of vocab.json (added tokens not counted).</summary>
    public int VocabularySize => _vocab.Count;

    private protected override int SpecialTokenCount => 2;

    private protected override int[] AddSpecialTokens(int[] ids)
    {
        var result = new int[ids.Length + 2];
        result[0] = _bosId;
        ids.CopyTo(result, 1);
        result[^1] = _eosId;
        return result;
    }

    /// <summary>
    /// Loads a CLIP tokenizer folder: vocab.json and merges.txt, plus tokenizer_config.json,
    /// special_tokens_map.json and added_tokens.json when present.
    /// </summary>
    public static ClipTokenizer FromFolder(string folder, TokenizerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        options ??= new TokenizerOptions();
        if (!Directory.Exists(folder)) throw new TokenizerException($"Tokenizer folder '{folder}' does not exist.");
        string vocabPath = Path.Combine(folder, VocabFile);
        string mergesPath = Path.Combine(folder, MergesFile);
        string jsonPath = Path.Combine(folder, TokenizerFactory.FastTokenizerFile);
        bool haveVocab = InputFile.Exists(vocabPath), haveMerges = InputFile.Exists(mergesPath);
        if (!haveVocab && !haveMerges && InputFile.Exists(jsonPath)) return FromTokenizerJson(folder, jsonPath, options);
        if (!haveVocab || !haveMerges)
        {
            throw new TokenizerException(
                $"CLIP tokenizer folder '{folder}' has no {(haveVocab ? MergesFile : VocabFile)} "
                + $"(a CLIP tokenizer needs {VocabFile} and {MergesFile}, or a {TokenizerFactory.FastTokenizerFile} alone).");
        }

        Dictionary<string, int> vocab = ReadVocab(vocabPath);
        List<string> merges = ReadMerges(mergesPath);
        return Create(folder, vocab, merges, vocabPath, mergesPath, TokenizerFolderConfig.Read(folder), options);
    }

    /// <summary>
    /// Loads the BPE vocabulary and merges of a fast-tokenizer file (<c>tokenizer.json</c>, model type BPE) and
    /// tokenizes like the slow tokenizer; used when a folder has no vocab.json / merges.txt.
    /// </summary>
    internal static ClipTokenizer FromTokenizerJson(string folder, string jsonPath, TokenizerOptions options)
    {
        using JsonDocument doc = TokenizerFolderConfig.ParseJson(jsonPath);
        if (!doc.RootElement.TryGetProperty("model", out JsonElement model) || model.ValueKind != JsonValueKind.Object)
        {
            throw new TokenizerException($"Tokenizer file '{jsonPath}' has no 'model' object.");
        }

        string? type = model.TryGetProperty("type", out JsonElement t) ? t.GetString() : null;
        if (type != "BPE") throw new TokenizerException($"Tokenizer file '{jsonPath}' holds a '{type}' model, not a CLIP BPE model.");
        if (!model.TryGetProperty("vocab", out JsonElement vocabElement) || vocabElement.ValueKind != JsonValueKind.Object)
        {
            throw new TokenizerException($"Tokenizer file '{jsonPath}' has no model.vocab object.");
        }

        Dictionary<string, int> vocab = ParseVocab(vocabElement, jsonPath);
        var lines = new List<string>();
        if (model.TryGetProperty("merges", out JsonElement mergesElement) && mergesElement.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement m in mergesElement.EnumerateArray())
            {
                // "a b" (tokenizers < 0.20) or ["a", "b"].
                if (m.ValueKind == JsonValueKind.String) lines.Add(m.GetString()!);
                else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2) lines.Add(m[0].GetString() + " " + m[1].GetString());
                else throw new TokenizerException($"Tokenizer file '{jsonPath}': a merge is neither \"a b\" nor [\"a\", \"b\"].");
            }
        }

        TokenizerFolderConfig config = TokenizerFolderConfig.Read(folder);
        if (config.AddedTokens.Count == 0 && doc.RootElement.TryGetProperty("added_tokens", out JsonElement addedTokens)
            && addedTokens.ValueKind == JsonValueKind.Array)
        {
            config.AddFastTokenizerAddedTokens(addedTokens, jsonPath);
        }

        return Create(folder, vocab, ParseMergeLines(lines.Take(MaxMerges)), jsonPath, jsonPath, config, options);
    }

    internal static ClipTokenizer Create(string source, Dictionary<string, int> vocab, List<string> merges, string vocabPath, string mergesPath,
        TokenizerFolderConfig config, TokenizerOptions options)
    {
        // CLIPTokenizer's defaults; the bos/eos/unk it wraps as AddedToken(lstrip=False, rstrip=False).
        TokenSpec? bos = config.HasBosToken ? config.BosToken : new TokenSpec(StartOfText);
        TokenSpec? eos = config.HasEosToken ? config.EosToken : new TokenSpec(EndOfText);
        TokenSpec? unk = config.HasUnkToken ? config.UnkToken : new TokenSpec(EndOfText);
        TokenSpec? pad = options.PadToken is not null ? new TokenSpec(options.PadToken) : config.HasPadToken ? config.PadToken : new TokenSpec(EndOfText);
        if (bos is null || eos is null)
        {
            throw new TokenizerException($"CLIP tokenizer in '{source}': bos_token and eos_token must be set (CLIP sequences start and end with them).");
        }

        var special = new List<TokenSpec?> { bos, eos, unk, pad };
        special.AddRange(config.AdditionalSpecialTokens);
        Dictionary<string, AddedToken> added = AddedTokenTable.Build(
            [], config, special, options.AddedTokens,
            s => vocab.TryGetValue(s, out int id) ? id : null,
            vocab.Count == 0 ? 0 : Math.Max(vocab.Count, vocab.Values.Max() + 1));

        BpeTokenizer bpe;
        try
        {
            bpe = BpeTokenizer.Create(new BpeOptions(vocab)
            {
                Merges = merges,
                EndOfWordSuffix = "</w>",
                UnknownToken = unk is not null && vocab.ContainsKey(unk.Content) ? unk.Content : null,
            });
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            throw new TokenizerException($"CLIP tokenizer files '{vocabPath}' and '{mergesPath}' do not fit together: {e.Message}", e);
        }

        return new ClipTokenizer(source, bpe, vocab, added, bos.Content, eos.Content, unk?.Content, pad?.Content, config);
    }

    private protected override void TokenizePiece(string piece, List<int> ids, List<string> tokens)
    {
        string text = CleanText(piece);
        foreach (string word in PreTokenize(text))
        {
            // CLIPTokenizer.bpe caches these two as themselves (no </w>), so they map to the special ids.
            if (word is StartOfText or EndOfText)
            {
                ids.Add(_vocab.TryGetValue(word, out int special) ? special : _unkId ?? throw UnknownSymbol(word));
                tokens.Add(word);
                continue;
            }

            var symbols = new StringBuilder(word.Length * 2);
            foreach (byte b in Encoding.UTF8.GetBytes(word)) symbols.Append(ByteSymbols[b]);
            foreach (EncodedToken t in _bpe.EncodeToTokens(symbols.ToString(), out _, considerPreTokenization: false, considerNormalization: false))
            {
                ids.Add(t.Id);
                tokens.Add(t.Value);
            }
        }
    }

    private TokenizerException UnknownSymbol(string word) =>
        new($"CLIP tokenizer in '{Source}' has no unk_token and cannot encode '{word}'.");

    /// <summary>
    /// transformers' fallback clean-up when ftfy is absent:
    /// <c>" ".join(BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize(text))</c>.
    /// </summary>
    internal static string CleanText(string text)
    {
        var sb = new StringBuilder(text.Length + 8);
        foreach (int cp in PythonText.CodePoints(text))
        {
            if (cp == 0 || cp == 0xFFFD || IsControl(cp)) continue;
            if (IsBertWhitespace(cp))
            {
                sb.Append(' ');
            }
            else if (IsCjkIdeograph(cp))
            {
                sb.Append(' ');
                PythonText.AppendCodePoint(sb, cp);
                sb.Append(' ');
            }
            else
            {
                PythonText.AppendCodePoint(sb, cp);
            }
        }

        string normalized = PythonText.Nfc(sb.ToString());
        var lowered = PythonText.Split(normalized).Select(PythonText.ToLower);
        return string.Join(' ', PythonText.Split(string.Join(' ', lowered)));
    }

    /// <summary>
    /// CLIP's pre-tokenizer, <c>&lt;\|startoftext\|&gt;|&lt;\|endoftext\|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>
    /// with IGNORECASE (the <c>regex</c> module), applied with <c>findall</c>. Written out on code points
    /// because .NET's regex classes see the two halves of a surrogate pair, not the letter.
    /// </summary>
    internal static List<string> PreTokenize(string text)
    {
        var words = new List<string>();
        int i = 0;
        while (i < text.Length)
        {
            int length = MatchMarker(text, i, StartOfText);
            if (length == 0) length = MatchMarker(text, i, EndOfText);
            if (length == 0) length = MatchContraction(text, i);
            if (length > 0)
            {
                words.Add(text.Substring(i, length));
                i += length;
                continue;
            }

            int cp = PythonText.CodePointAt(text, i, out int width);
            if (IsLetter(cp))
            {
                int end = i + width;
                while (end < text.Length && IsLetter(PythonText.CodePointAt(text, end, out int w))) end += w;
                words.Add(text[i..end]);
                i = end;
            }
            else if (IsNumber(cp))
            {
                words.Add(text.Substring(i, width));
                i += width;
            }
            else if (!PythonText.IsSpace(cp))
            {
                int end = i + width;
                while (end < text.Length)
                {
                    int next = PythonText.CodePointAt(text, end, out int w);
                    if (PythonText.IsSpace(next) || IsLetter(next) || IsNumber(next)) break;
                    end += w;
                }

                words.Add(text[i..end]);
                i = end;
            }
            else
            {
                i += width;
            }
        }

        return words;
    }

    private static int MatchMarker(string text, int i, string marker)
    {
        if (i + marker.Length > text.Length) return 0;
        for (int k = 0; k < marker.Length; k++)
        {
            if (!SameIgnoringCase(text[i + k], marker[k])) return 0;
        }

        return marker.Length;
    }

    private static readonly string[] Contractions = ["s", "t", "re", "ve", "m", "ll", "d"];

    private static int MatchContraction(string text, int i)
    {
        if (text[i] != '\'') return 0;
        foreach (string c in Contractions)
        {
            if (i + 1 + c.Length > text.Length) continue;
            bool ok = true;
            for (int k = 0; k < c.Length && ok; k++) ok = SameIgnoringCase(text[i + 1 + k], c[k]);
            if (ok) return 1 + c.Length;
        }

        return 0;
    }

    // The regex module's IGNORECASE (simple case folding) for the ASCII letters of the pattern:
    // only 's' has a non-ASCII fold partner, U+017F LATIN SMALL LETTER LONG S.
    private static bool SameIgnoringCase(char c, char patternChar) =>
        c == patternChar
        || (char.IsAsciiLetter(patternChar) && char.ToLowerInvariant(c) == patternChar && c < 0x80)
        || (patternChar == 's' && c == '\u017F');

    private static bool IsLetter(int cp) => PythonText.Category(cp) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
        or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter;

    private static bool IsNumber(int cp) => PythonText.Category(cp) is UnicodeCategory.DecimalDigitNumber
        or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;

    // transformers' _is_control: every "C*" category except \t \n \r.
    private static bool IsControl(int cp) => cp is not ('\t' or '\n' or '\r') && PythonText.Category(cp) is UnicodeCategory.Control
        or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;

    // transformers' _is_whitespace: space, \t, \n, \r and category Zs.
    private static bool IsBertWhitespace(int cp) => cp is ' ' or '\t' or '\n' or '\r' || PythonText.Category(cp) == UnicodeCategory.SpaceSeparator;

    // BasicTokenizer._is_chinese_char: the CJK Unified Ideographs blocks it lists.
    private static bool IsCjkIdeograph(int cp) =>
        cp is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF)
            or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B820 and <= 0x2CEAF)
            or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);

    // GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to U+0100 upwards in order.
    private static string[] BuildByteSymbols()
    {
        var symbols = new string[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is (>= '!' and <= '~') or (>= 0xA1 and <= 0xAC) or (>= 0xAE and <= 0xFF);
            symbols[b] = ((char)(printable ? b : 256 + n++)).ToString();
        }

        return symbols;
    }

    internal static Dictionary<string, int> ReadVocab(string path)
    {
        using JsonDocument doc = TokenizerFolderConfig.ParseJson(path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            throw new TokenizerException($"Tokenizer file '{path}' should be a JSON object {{token: id}}.");
        }

        return ParseVocab(doc.RootElement, path);
    }

    /// <summary>A {token: id} object, ids non-negative and distinct.</summary>
    private static Dictionary<string, int> ParseVocab(JsonElement element, string path)
    {
        int count = element.GetPropertyCount();
        if (count > InputLimits.MaxVocabularySize)
            throw new TokenizerException($"Tokenizer file '{path}' has {count} tokens, more than the {InputLimits.MaxVocabularySize}-token vocabulary limit.");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        var seen = new Dictionary<int, string>();
        foreach (JsonProperty p in element.EnumerateObject())
        {
            int id = TokenizerFolderConfig.ReadId(p.Value, path, $"token '{p.Name}'");

            if (seen.TryGetValue(id, out string? other))
            {
                throw new TokenizerException($"Tokenizer file '{path}': tokens '{other}' and '{p.Name}' share id {id}.");
            }

            seen[id] = p.Name;
            vocab[p.Name] = id;
        }

        if (vocab.Count == 0) throw new TokenizerException($"Tokenizer file '{path}' has an empty vocabulary.");
        return vocab;
    }

    internal static List<string> ReadMerges(string path)
    {
        string content;
        try
        {
            content = InputFile.ReadAllText(path, InputLimits.MaxTokenizerFileBytes, "Tokenizer file");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TokenizerException($"Tokenizer file '{path}' cannot be read: {e.Message}", e);
        }

        string[] lines = PythonText.Strip(content).Split('\n');
        return ParseMergeLines(lines.Skip(1).Take(MaxMerges));
    }

    /// <summary>
    /// Merge lines as "a b". A line that is not exactly two symbols never matches a pair in transformers, so it
    /// is dropped; a repeated pair keeps its last rank (transformers builds a dict), which only its last
    /// occurrence gives.
    /// </summary>
    internal static List<string> ParseMergeLines(IEnumerable<string> lines)
    {
        var pairs = new List<string>();
        foreach (string line in lines)
        {
            List<string> parts = PythonText.Split(line);
            if (parts.Count == 2) pairs.Add(parts[0] + " " + parts[1]);
        }

        var lastIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < pairs.Count; i++) lastIndex[pairs[i]] = i;
        if (lastIndex.Count == pairs.Count) return pairs;
        return pairs.Where((p, i) => lastIndex[p] == i).ToList();
    }
}
