using System.Text;
using AccelAes.Loader.Files;
using AccelAes.Loader.Validation;
using Microsoft.ML.Tokenizers;

namespace AccelAes.Loader.Tokenizers;

/// <summary>
/// transformers' slow <c>BertTokenizer</c> for an uncased vocabulary (bert-base-uncased's <c>vocab.txt</c>), the tokenizer
/// BLIP builds in <c>init_tokenizer</c> (ImageReward/models/BLIP/blip.py, THUDM/ImageReward
/// c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb): <c>BertTokenizer.from_pretrained('bert-base-uncased')</c> plus the special
/// tokens <c>[DEC]</c> (bos) and <c>[ENC]</c>, which take the next two ids (30522 and 30523). Special tokens are matched
/// literally first, as the slow tokenizer does; the rest goes through <see cref="BertBasicTokenizer"/> (clean-up, CJK
/// spacing, lower-casing, accent stripping, punctuation split) and then, word by word, through Microsoft.ML.Tokenizers'
/// <see cref="WordPieceTokenizer"/> (greedy longest match, <c>##</c> continuations, a word without a full cover or longer
/// than 100 characters is <c>[UNK]</c>). Sequences are <c>[CLS] … [SEP]</c>, padded with <c>[PAD]</c>.
/// </summary>
public sealed class BertWordPieceTokenizer : PromptTokenizer
{
    public const string VocabFile = "vocab.txt";

    /// <summary>The tokens BLIP's <c>init_tokenizer</c> adds, in order: <c>bos_token</c> then the one additional special token.</summary>
    public static IReadOnlyList<string> BlipAddedTokens { get; } = ["[DEC]", "[ENC]"];

    private readonly WordPieceTokenizer _wordPiece;
    private readonly string[] _tokenOf;

    private BertWordPieceTokenizer(string source, WordPieceTokenizer wordPiece, string[] tokenOf, IEnumerable<AddedToken> added,
        int padId, int clsId, int sepId, int? modelMaxLength)
        : base(source, added, padId, PaddingSide.Right, truncateLeft: false, modelMaxLength)
    {
        _wordPiece = wordPiece;
        _tokenOf = tokenOf;
        ClsTokenId = clsId;
        SepTokenId = sepId;
    }

    public override TokenizerKind Kind => TokenizerKind.Bert;

    public int ClsTokenId { get; }

    public int SepTokenId { get; }

    /// <summary>Ids in vocab.txt plus the added tokens (30524 for BLIP's tokenizer).</summary>
    public int VocabularySize => _tokenOf.Length;

    /// <summary>The id of a special or vocabulary token (e.g. "[ENC]"), or null.</summary>
    public int? IdOf(string token)
    {
        int id = Array.IndexOf(_tokenOf, token);
        return id < 0 ? null : id;
    }

    private protected override int SpecialTokenCount => 2;

    private protected override int[] AddSpecialTokens(int[] ids) => [ClsTokenId, .. ids, SepTokenId];

    private protected override void TokenizePiece(string piece, List<int> ids, List<string> tokens)
    {
        foreach (string word in BertBasicTokenizer.Tokenize(piece))
            foreach (int id in _wordPiece.EncodeToIds(word, considerPreTokenization: false, considerNormalization: false))
            {
                ids.Add(id);
                tokens.Add(_tokenOf[id]);
            }
    }

    /// <summary>
    /// Loads <c>vocab.txt</c> from <paramref name="folder"/> (one token a line, the line number its id) and adds BLIP's
    /// <c>[DEC]</c> and <c>[ENC]</c> after it. model_max_length is bert-base-uncased's 512.
    /// </summary>
    public static BertWordPieceTokenizer FromFolder(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (!Directory.Exists(folder)) throw new TokenizerException($"Tokenizer folder '{folder}' does not exist.");
        string vocabPath = Path.Combine(folder, VocabFile);
        if (!InputFile.Exists(vocabPath))
            throw new TokenizerException($"BERT tokenizer folder '{folder}' has no {VocabFile} (bert-base-uncased's WordPiece vocabulary).");
        byte[] bytes = InputFile.ReadAllBytes(vocabPath, InputLimits.MaxTokenizerFileBytes, "BERT vocabulary");
        return FromVocab(folder, bytes, vocabPath);
    }

    private static BertWordPieceTokenizer FromVocab(string folder, byte[] bytes, string vocabPath)
    {
        // transformers' load_vocab: one token per line, trailing "\n" removed, the line index is the id.
        string text = Encoding.UTF8.GetString(bytes);
        List<string> tokens = text.Split('\n').ToList();
        if (tokens.Count > 0 && tokens[^1].Length == 0) tokens.RemoveAt(tokens.Count - 1);
        if (tokens.Count + BlipAddedTokens.Count > InputLimits.MaxVocabularySize)
            throw new TokenizerException($"Vocabulary '{vocabPath}' has {tokens.Count} tokens, more than {InputLimits.MaxVocabularySize}.");

        int Require(string special) => tokens.IndexOf(special) is int id and >= 0
            ? id
            : throw new TokenizerException($"Vocabulary '{vocabPath}' has no '{special}' token; a BERT vocabulary needs [PAD], [UNK], [CLS], [SEP] and [MASK].");
        int padId = Require("[PAD]"), clsId = Require("[CLS]"), sepId = Require("[SEP]");
        Require("[UNK]");
        Require("[MASK]");

        var added = new List<AddedToken>();
        foreach (string special in new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" })
            added.Add(new AddedToken(special, tokens.IndexOf(special), Special: true));
        foreach (string blip in BlipAddedTokens)
        {
            int id = tokens.IndexOf(blip);
            if (id < 0)
            {
                id = tokens.Count;
                tokens.Add(blip);
            }
            added.Add(new AddedToken(blip, id, Special: true));
        }

        // The words arrive split and normalised; the model only does the WordPiece step.
        var options = new WordPieceOptions
        {
            UnknownToken = "[UNK]",
            ContinuingSubwordPrefix = "##",
            MaxInputCharsPerWord = 100,
            PreTokenizer = null,
            Normalizer = null,
        };
        using var stream = new MemoryStream(bytes, writable: false);
        WordPieceTokenizer wordPiece = WordPieceTokenizer.Create(stream, options);
        return new BertWordPieceTokenizer(folder, wordPiece, tokens.ToArray(), added, padId, clsId, sepId, modelMaxLength: 512);
    }
}
