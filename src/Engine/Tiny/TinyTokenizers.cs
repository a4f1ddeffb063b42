using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AccelAes.Engine.Tiny;

/// <summary>
/// Tokenizer files for the tiny pipelines, generated rather than shipped:
/// <list type="bullet">
/// <item>CLIP: a byte-level BPE vocabulary with no merges (every byte of a word is one token, the word's last
/// byte carries <c>&lt;/w&gt;</c>), laid out as CLIP's vocab.json / merges.txt are: ids 0–255 the bytes in GPT-2
/// <c>bytes_to_unicode</c> order, 256–511 the same with <c>&lt;/w&gt;</c>, then &lt;|startoftext|&gt; and
/// &lt;|endoftext|&gt;.</item>
/// <item>T5: a SentencePiece unigram spiece.model laid out as T5's is (&lt;pad&gt; 0, &lt;/s&gt; 1, &lt;unk&gt; 2, no
/// bos, no byte fallback, dummy prefix, extra whitespace removed), over printable ASCII, "▁" + each lower-case
/// letter and a few common bigrams; the tokenizer adds the 100 <c>&lt;extra_id_N&gt;</c> sentinels after them.
/// Its normalizer is "identity" (T5's nmt_nfkc needs a precompiled character map that cannot be generated
/// simply), so full-width or compatibility characters are not folded: they become &lt;unk&gt;.</item>
/// <item>Gemma: a SentencePiece BPE tokenizer.model laid out as Gemma's is (&lt;pad&gt; 0, &lt;eos&gt; 1, &lt;bos&gt; 2,
/// &lt;unk&gt; 3, byte pieces &lt;0x00&gt;…&lt;0xFF&gt; for byte fallback, identity normalizer without dummy prefix,
/// digits split), with printable ASCII characters and merges to "▁" + letter and common bigrams.</item>
/// </list>
/// The engine's tokenizers load all three unchanged; the files follow the formats transformers' CLIPTokenizer,
/// T5Tokenizer and GemmaTokenizer read.
/// </summary>
public static class TinyTokenizers
{
    public const int ClipStartOfTextId = 512;
    public const int ClipEndOfTextId = 513;
    public const int ClipVocabSize = 514;

    /// <summary>Ids of T5's special pieces (as in every T5 spiece.model).</summary>
    public const int T5PadId = 0, T5EosId = 1, T5UnkId = 2;

    /// <summary>Ids of Gemma's special pieces (as in Gemma's tokenizer.model).</summary>
    public const int GemmaPadId = 0, GemmaEosId = 1, GemmaBosId = 2, GemmaUnkId = 3;

    /// <summary>T5Tokenizer's sentinel count: ids T5PieceCount … T5PieceCount + 99.</summary>
    public const int T5ExtraIds = 100;

    /// <summary>Bigrams both SentencePiece vocabularies hold as single pieces, so tokens are not all characters.</summary>
    private static readonly string[] Bigrams = ["th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "ti", "es", "or", "te", "of", "ed", "is", "it", "al"];

    /// <summary>Pieces of the generated T5 model (the tokenizer's vocabulary is this plus <see cref="T5ExtraIds"/>).</summary>
    public static int T5PieceCount => T5Pieces().Count;

    /// <summary>Pieces of the generated Gemma model: exactly the tiny Gemma's vocab_size.</summary>
    public static int GemmaPieceCount => GemmaPieces().Count;

    /// <summary>Writes a CLIP tokenizer folder; <paramref name="padToken"/> "!" gives SD3's tokenizer_2 behaviour.</summary>
    public static void WriteClip(string folder, string padToken = "<|endoftext|>")
    {
        var vocab = new JsonObject();
        IReadOnlyList<char> byteChars = BytesToUnicode();
        for (int i = 0; i < 256; i++) vocab[byteChars[i].ToString()] = i;
        for (int i = 0; i < 256; i++) vocab[byteChars[i] + "</w>"] = 256 + i;
        vocab["<|startoftext|>"] = ClipStartOfTextId;
        vocab["<|endoftext|>"] = ClipEndOfTextId;
        var options = new JsonSerializerOptions { WriteIndented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        File.WriteAllText(Path.Combine(folder, "vocab.json"), vocab.ToJsonString(options), new UTF8Encoding(false));
        File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\n", new UTF8Encoding(false));
        var config = new JsonObject
        {
            ["tokenizer_class"] = "CLIPTokenizer",
            ["model_max_length"] = 77,
            ["bos_token"] = "<|startoftext|>",
            ["eos_token"] = "<|endoftext|>",
            ["unk_token"] = "<|endoftext|>",
            ["pad_token"] = padToken,
            ["do_lower_case"] = true,
        };
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var special = new JsonObject
        {
            ["bos_token"] = "<|startoftext|>",
            ["eos_token"] = "<|endoftext|>",
            ["unk_token"] = "<|endoftext|>",
            ["pad_token"] = padToken,
        };
        File.WriteAllText(Path.Combine(folder, "special_tokens_map.json"), special.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>GPT-2's reversible byte → printable-character table (the order CLIP's vocabulary starts with).</summary>
    internal static IReadOnlyList<char> BytesToUnicode()
    {
        var printable = new List<int>();
        for (int b = '!'; b <= '~'; b++) printable.Add(b);
        for (int b = 0xA1; b <= 0xAC; b++) printable.Add(b);
        for (int b = 0xAE; b <= 0xFF; b++) printable.Add(b);
        var chars = printable.Select(b => (char)b).ToList();
        int n = 0;
        var order = new List<int>(printable);
        for (int b = 0; b < 256; b++)
        {
            if (printable.Contains(b)) continue;
            order.Add(b);
            chars.Add((char)(256 + n++));
        }
        // chars[i] encodes byte order[i]; CLIP's vocabulary lists them in this order.
        return chars;
    }

    /// <summary>Writes a T5 tokenizer folder: spiece.model, tokenizer_config.json and special_tokens_map.json.</summary>
    public static void WriteT5(string folder, int modelMaxLength = 512)
    {
        var model = new SentencePieceModelWriter
        {
            ModelType = 1,
            Pieces = T5Pieces(),
            UnkId = T5UnkId, BosId = -1, EosId = T5EosId, PadId = T5PadId,
            EosPiece = "</s>",
        };
        File.WriteAllBytes(Path.Combine(folder, "spiece.model"), model.ToBytes());
        var config = new JsonObject
        {
            ["tokenizer_class"] = "T5Tokenizer",
            ["model_max_length"] = modelMaxLength,
            ["extra_ids"] = T5ExtraIds,
            ["legacy"] = true,
            ["eos_token"] = "</s>",
            ["unk_token"] = "<unk>",
            ["pad_token"] = "<pad>",
        };
        WriteJson(folder, "tokenizer_config.json", config);
        WriteJson(folder, "special_tokens_map.json", new JsonObject { ["eos_token"] = "</s>", ["unk_token"] = "<unk>", ["pad_token"] = "<pad>" });
    }

    /// <summary>Writes a Gemma tokenizer folder: tokenizer.model, tokenizer_config.json and special_tokens_map.json.</summary>
    public static void WriteGemma(string folder)
    {
        var model = new SentencePieceModelWriter
        {
            ModelType = 2,
            Pieces = GemmaPieces(),
            ByteFallback = true,
            SplitDigits = true,
            AllowWhitespaceOnlyPieces = true,
            UnkId = GemmaUnkId, BosId = GemmaBosId, EosId = GemmaEosId, PadId = GemmaPadId,
            BosPiece = "<bos>", EosPiece = "<eos>",
            AddDummyPrefix = false,
            RemoveExtraWhitespaces = false,
        };
        File.WriteAllBytes(Path.Combine(folder, "tokenizer.model"), model.ToBytes());
        var config = new JsonObject
        {
            ["tokenizer_class"] = "GemmaTokenizer",
            ["add_bos_token"] = true,
            ["add_eos_token"] = false,
            ["bos_token"] = "<bos>",
            ["eos_token"] = "<eos>",
            ["unk_token"] = "<unk>",
            ["pad_token"] = "<pad>",
            // Said explicitly: GemmaTokenizerFast's class default is left, the slow GemmaTokenizer's right.
            ["padding_side"] = "right",
        };
        WriteJson(folder, "tokenizer_config.json", config);
        WriteJson(folder, "special_tokens_map.json",
            new JsonObject { ["bos_token"] = "<bos>", ["eos_token"] = "<eos>", ["unk_token"] = "<unk>", ["pad_token"] = "<pad>" });
    }

    /// <summary>
    /// T5's unigram vocabulary. Scores are log-probabilities: a "▁"-letter piece (−3) beats "▁" + letter (−9.5), a
    /// bigram (−4) beats two characters (−10), so common words come out as a few pieces.
    /// </summary>
    private static List<SentencePieceEntry> T5Pieces()
    {
        var pieces = new List<SentencePieceEntry>
        {
            new("<pad>", 0f, SentencePieceType.Control),
            new("</s>", 0f, SentencePieceType.Control),
            new("<unk>", 0f, SentencePieceType.Unknown),
            new("\u2581", -4.5f),
        };
        int rank = 0;
        foreach (string merged in MergedPieces()) pieces.Add(new(merged, -3f - 0.01f * rank++));
        foreach (char c in PrintableAscii()) pieces.Add(new(c.ToString(), -5f - 0.001f * c));
        return pieces;
    }

    /// <summary>
    /// Gemma's BPE vocabulary, 400 pieces: specials, the 256 byte-fallback pieces, merged pieces (higher score =
    /// merged first), then the single characters they are merged from.
    /// </summary>
    private static List<SentencePieceEntry> GemmaPieces()
    {
        var pieces = new List<SentencePieceEntry>
        {
            new("<pad>", 0f, SentencePieceType.Control),
            new("<eos>", 0f, SentencePieceType.Control),
            new("<bos>", 0f, SentencePieceType.Control),
            new("<unk>", 0f, SentencePieceType.Unknown),
        };
        for (int b = 0; b < 256; b++) pieces.Add(new($"<0x{b:X2}>", 0f, SentencePieceType.Byte));
        int rank = 0;
        foreach (string merged in MergedPieces()) pieces.Add(new(merged, -rank++));
        pieces.Add(new("\u2581", -rank++));
        foreach (char c in PrintableAscii()) pieces.Add(new(c.ToString(), -rank++));
        return pieces;
    }

    /// <summary>"▁a" … "▁z", then the bigrams.</summary>
    private static IEnumerable<string> MergedPieces()
    {
        for (char c = 'a'; c <= 'z'; c++) yield return "\u2581" + c;
        foreach (string b in Bigrams) yield return b;
    }

    /// <summary>'!' … '~': printable ASCII without the space, which SentencePiece writes as "▁".</summary>
    private static IEnumerable<char> PrintableAscii()
    {
        for (char c = '!'; c <= '~'; c++) yield return c;
    }

    private static void WriteJson(string folder, string name, JsonObject json)
        => File.WriteAllText(Path.Combine(folder, name), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), new UTF8Encoding(false));
}
