using System.Text.Json;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Loader.Tests.Tokenizers;

/// <summary>Finding tokenizers in transformers / diffusers folders, and the errors when they are not there.</summary>
public sealed class TokenizerFactoryTests
{
    private static string? Dir(string name) => SharedData.TokenizersDir is string d ? Path.Combine(d, name) : null;

    [GoldenFact]
    public void Kinds_are_detected_from_the_files()
    {
        if (SharedData.TokenizersDir is null) return;
        Assert.Equal(TokenizerKind.Clip, TokenizerFactory.DetectKind(Dir("clip")!));
        Assert.Equal(TokenizerKind.T5, TokenizerFactory.DetectKind(Dir("t5")!));
        Assert.Equal(TokenizerKind.Gemma, TokenizerFactory.DetectKind(Dir("gemma")!));
        Assert.IsType<ClipTokenizer>(TokenizerFactory.FromFolder(Dir("clip")!));
        Assert.IsType<T5Tokenizer>(TokenizerFactory.FromFolder(Dir("t5")!));
        Assert.IsType<GemmaTokenizer>(TokenizerFactory.FromFolder(Dir("gemma")!));
    }

    [GoldenFact]
    public void A_unigram_tokenizer_model_is_t5_and_a_bpe_one_is_gemma()
    {
        if (SharedData.TokenizersDir is null) return;
        using var temp = new TempDirectory();
        string t5 = temp.Sub("t5_named_tokenizer_model");
        File.Copy(Path.Combine(Dir("t5")!, "spiece.model"), Path.Combine(t5, "tokenizer.model"));
        Assert.Equal(TokenizerKind.T5, TokenizerFactory.DetectKind(t5));
        Assert.Equal([4, 49, 3, 11, 4, 61, 1], TokenizerFactory.FromFolder(t5).Encode("a photo of a cat", TokenizerCall.Untruncated).InputIds);
    }

    [GoldenFact]
    public void Sd3_flux_and_lumina_model_folders_load()
    {
        if (SharedData.TokenizersDir is null) return;
        using var temp = new TempDirectory();

        // SD3: tokenizer/ (CLIP-L), tokenizer_2/ (CLIP-G, pad "!"), tokenizer_3/ (T5).
        string sd3 = temp.Sub("sd3");
        TempDirectory.CopyFiles(Dir("clip")!, Path.Combine(sd3, "tokenizer"));
        TempDirectory.WriteText(Path.Combine(sd3, "tokenizer"), "tokenizer_config.json", """{"tokenizer_class": "CLIPTokenizer", "model_max_length": 77}""");
        TempDirectory.CopyFiles(Dir("clip")!, Path.Combine(sd3, "tokenizer_2"));
        TempDirectory.WriteText(Path.Combine(sd3, "tokenizer_2"), "special_tokens_map.json", """{"pad_token": "!"}""");
        TempDirectory.CopyFiles(Dir("t5")!, Path.Combine(sd3, "tokenizer_3"));
        TempDirectory.WriteText(Path.Combine(sd3, "tokenizer_3"), "tokenizer_config.json", """{"tokenizer_class": "T5Tokenizer", "extra_ids": 100, "model_max_length": 512, "legacy": true}""");
        TempDirectory.WriteText(sd3, "model_index.json", """
            {"_class_name": "StableDiffusion3Pipeline", "tokenizer": ["transformers", "CLIPTokenizer"],
             "tokenizer_2": ["transformers", "CLIPTokenizer"], "tokenizer_3": ["transformers", "T5TokenizerFast"]}
            """);
        DiffusersTokenizers s = TokenizerFactory.FromModelFolder(sd3);
        Assert.Equal(TokenizerKind.Clip, s.Tokenizer!.Kind);
        Assert.Equal(TokenizerKind.Clip, s.Tokenizer2!.Kind);
        Assert.Equal(TokenizerKind.T5, s.Tokenizer3!.Kind);
        Assert.Equal(999, s.Tokenizer.PadTokenId);
        Assert.Equal(0, s.Tokenizer2.PadTokenId);
        Assert.Equal(77, s.Tokenizer.ModelMaxLength);
        Assert.Equal(512, s.Tokenizer3.ModelMaxLength);

        // FLUX: tokenizer/ (CLIP), tokenizer_2/ (T5); kinds from model_index.json and files.
        string flux = temp.Sub("flux");
        TempDirectory.CopyFiles(Dir("clip")!, Path.Combine(flux, "tokenizer"));
        TempDirectory.CopyFiles(Dir("t5")!, Path.Combine(flux, "tokenizer_2"));
        TempDirectory.WriteText(flux, "model_index.json", """{"tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "T5TokenizerFast"]}""");
        DiffusersTokenizers f = TokenizerFactory.FromModelFolder(flux);
        Assert.Equal(TokenizerKind.Clip, f.Tokenizer!.Kind);
        Assert.Equal(TokenizerKind.T5, f.Tokenizer2!.Kind);
        Assert.Null(f.Tokenizer3);

        // Lumina: tokenizer/ (Gemma).
        string lumina = temp.Sub("lumina");
        TempDirectory.CopyFiles(Dir("gemma")!, Path.Combine(lumina, "tokenizer"));
        DiffusersTokenizers l = TokenizerFactory.FromModelFolder(lumina);
        Assert.Equal(TokenizerKind.Gemma, l.Tokenizer!.Kind);
        Assert.Null(l.Tokenizer2);
    }

    [GoldenFact]
    public void Folders_without_tokenizer_files_are_explained()
    {
        using var temp = new TempDirectory();
        string empty = temp.Sub("tokenizer");
        var e = Assert.Throws<TokenizerException>(() => TokenizerFactory.FromFolder(empty));
        Assert.Contains(empty, e.Message);
        foreach (string file in new[] { "vocab.json", "merges.txt", "spiece.model", "tokenizer.model", "tokenizer.json" }) Assert.Contains(file, e.Message);

        string model = temp.Sub("model");
        e = Assert.Throws<TokenizerException>(() => TokenizerFactory.FromModelFolder(model));
        Assert.Contains("tokenizer/", e.Message);

        Assert.Throws<TokenizerException>(() => TokenizerFactory.FromFolder(Path.Combine(temp.Path, "missing")));
    }

    [GoldenFact]
    public void Unsupported_tokenizer_class_is_named()
    {
        using var temp = new TempDirectory();
        TempDirectory.WriteText(temp.Path, "tokenizer_config.json", """{"tokenizer_class": "LlamaTokenizerFast"}""");
        var e = Assert.Throws<TokenizerException>(() => TokenizerFactory.DetectKind(temp.Path));
        Assert.Contains("LlamaTokenizerFast", e.Message);
    }

    [GoldenFact]
    public void A_sentencepiece_tokenizer_json_alone_is_refused_with_the_reason()
    {
        using var temp = new TempDirectory();
        TempDirectory.WriteText(temp.Path, "tokenizer.json", """{"version": "1.0", "model": {"type": "Unigram", "unk_id": 2, "vocab": [["<pad>", 0.0]]}}""");
        var e = Assert.Throws<TokenizerException>(() => TokenizerFactory.FromFolder(temp.Path));
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains("Unigram", e.Message);
        Assert.Contains("Microsoft.ML.Tokenizers", e.Message);
        Assert.Contains("spiece.model", e.Message);
    }

    [GoldenFact]
    public void A_clip_tokenizer_json_alone_gives_the_same_ids_as_vocab_and_merges()
    {
        if (Dir("clip") is not string dir) return;
        using var temp = new TempDirectory();
        using JsonDocument vocab = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "vocab.json")));
        string[] merges = File.ReadAllText(Path.Combine(dir, "merges.txt")).Trim().Split('\n').Skip(1).ToArray();
        var json = new Dictionary<string, object>
        {
            ["version"] = "1.0",
            ["added_tokens"] = new object[]
            {
                new Dictionary<string, object> { ["id"] = 998, ["content"] = "<|startoftext|>", ["special"] = true },
                new Dictionary<string, object> { ["id"] = 999, ["content"] = "<|endoftext|>", ["special"] = true },
            },
            ["model"] = new Dictionary<string, object>
            {
                ["type"] = "BPE",
                ["end_of_word_suffix"] = "</w>",
                ["vocab"] = vocab.RootElement,
                // Newer tokenizers write merges as pairs.
                ["merges"] = merges.Select(m => m.Split(' ')).ToArray(),
            },
        };
        TempDirectory.WriteText(temp.Path, "tokenizer.json", JsonSerializer.Serialize(json));
        Assert.Equal(TokenizerKind.Clip, TokenizerFactory.DetectKind(temp.Path));
        IPromptTokenizer fromJson = TokenizerFactory.FromFolder(temp.Path);
        var fromFiles = ClipTokenizer.FromFolder(dir);
        foreach (string prompt in new[] { "a photo of a cat", "A highly detailed digital illustration, 8k!", "über naïve 猫 🐱" })
        {
            Assert.Equal(fromFiles.Encode(prompt, TokenizerCall.Sd3Clip).InputIds, fromJson.Encode(prompt, TokenizerCall.Sd3Clip).InputIds);
        }
    }
}
