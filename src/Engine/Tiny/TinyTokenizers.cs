using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AccelAes.Engine.Tiny;

/// <summary>
/// Tokenizer files for the tiny pipelines, generated rather than shipped: a byte-level CLIP BPE vocabulary with
/// no merges (every byte of a word is one token, the word's last byte carries <c>&lt;/w&gt;</c>), laid out as
/// CLIP's vocab.json / merges.txt are: ids 0–255 the bytes in GPT-2 <c>bytes_to_unicode</c> order, 256–511 the
/// same with <c>&lt;/w&gt;</c>, then &lt;|startoftext|&gt; and &lt;|endoftext|&gt;. The real CLIPTokenizer and
/// the engine's ClipTokenizer both load it unchanged.
/// </summary>
public static class TinyTokenizers
{
    public const int ClipStartOfTextId = 512;
    public const int ClipEndOfTextId = 513;
    public const int ClipVocabSize = 514;

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
}
