using AccelAes.Loader.Tokenizers;

namespace AccelAes.Loader.Tests.Tokenizers;

/// <summary>
/// Cases of our own on the golden vocabularies: empty and blank prompts, truncation, case, unicode,
/// punctuation, special tokens inside prompts, padding variants and the pipeline presets.
/// </summary>
public sealed class TokenizerBehaviourTests
{
    private static string? Dir(string name) => SharedData.TokenizersDir is string d ? Path.Combine(d, name) : null;

    private static string LongPrompt(int words) => string.Join(", ", Enumerable.Repeat("a red cat on a hill", words));

    // ---- CLIP -------------------------------------------------------------------------------------------

    [GoldenTheory]
    [InlineData("")]
    [InlineData("   \t\n  ")]
    [InlineData("\u200b\u0000\u00a0")]
    public void Clip_empty_and_blank_prompts_are_bos_eos_then_padding(string prompt)
    {
        if (Dir("clip") is not string dir) return;
        var clip = ClipTokenizer.FromFolder(dir);
        TokenizedPrompt r = clip.Encode(prompt, TokenizerCall.Sd3Clip);
        Assert.Equal(77, r.Length);
        Assert.Equal([clip.BosTokenId, clip.EosTokenId], r.InputIds[..2]);
        Assert.All(r.InputIds[2..], id => Assert.Equal(clip.PadTokenId, id));
        Assert.Equal([1, 1], r.AttentionMask[..2]);
        Assert.All(r.AttentionMask[2..], m => Assert.Equal(0, m));
        Assert.False(r.Truncated);
        Assert.Equal(0, r.DroppedTokenCount);
        Assert.Equal(2, r.UntruncatedLength);
    }

    [GoldenFact]
    public void Clip_long_prompt_is_truncated_to_77_keeping_bos_and_eos()
    {
        if (Dir("clip") is not string dir) return;
        var clip = ClipTokenizer.FromFolder(dir);
        string prompt = LongPrompt(40);
        int[] content = clip.EncodeToIds(prompt);
        Assert.True(content.Length > 75);

        TokenizedPrompt r = clip.Encode(prompt, TokenizerCall.Sd3Clip);
        Assert.Equal(77, r.Length);
        Assert.True(r.Truncated);
        Assert.Equal(content.Length + 2, r.UntruncatedLength);
        Assert.Equal(content.Length - 75, r.DroppedTokenCount);
        Assert.Equal(clip.BosTokenId, r.InputIds[0]);
        Assert.Equal(content[..75], r.InputIds[1..76]);
        Assert.Equal(clip.EosTokenId, r.InputIds[76]);
        Assert.All(r.AttentionMask, m => Assert.Equal(1, m));
    }

    [GoldenFact]
    public void Clip_is_case_insensitive_and_unicode_is_lower_cased_too()
    {
        if (Dir("clip") is not string dir) return;
        var clip = ClipTokenizer.FromFolder(dir);
        Assert.Equal(clip.EncodeToIds("a photo of a cat"), clip.EncodeToIds("A PHOTO Of a CaT"));
        Assert.Equal(clip.EncodeToIds("café über naïve"), clip.EncodeToIds("CAFÉ ÜBER NAÏVE"));
        // Decomposed accents are composed (NFC) before the bytes are taken.
        Assert.Equal(clip.EncodeToIds("café"), clip.EncodeToIds("cafe\u0301"));
        // CJK ideographs are spaced, so adjacent ones are separate words; emoji are byte-level symbols.
        Assert.Equal(clip.Tokenize("猫 猫"), clip.Tokenize("猫猫"));
        Assert.Equal(["ð", "Ł", "Ĳ", "±</w>"], clip.Tokenize("🐱"));
    }

    [GoldenFact]
    public void Clip_pre_tokenizer_keeps_punctuation_runs_and_splits_digits_and_contractions()
    {
        Assert.Equal(["wow", "!!!", "...", "?!"], ClipTokenizer.PreTokenize("wow!!! ... ?!"));
        Assert.Equal(["it", "'s", "they", "'re", "i", "'d"], ClipTokenizer.PreTokenize("it's they're i'd"));
        Assert.Equal(["2", "0", "2", "4", "x", "1"], ClipTokenizer.PreTokenize("2024x1"));
        Assert.Equal(["<|endoftext|>", "a"], ClipTokenizer.PreTokenize("<|endoftext|>a"));
        Assert.Equal(["!<|", "endoftext", "|>"], ClipTokenizer.PreTokenize("!<|endoftext|>"));
        // A supplementary-plane letter is a letter (.NET's regex would see two surrogates).
        Assert.Equal(["a\U0001D41Bc"], ClipTokenizer.PreTokenize("a\U0001D41Bc"));
    }

    [GoldenFact]
    public void Clip_repeated_punctuation_with_bang_pad_splits_every_bang()
    {
        if (Dir("clip") is not string dir) return;
        var plain = ClipTokenizer.FromFolder(dir);
        var bang = ClipTokenizer.FromFolder(dir, new TokenizerOptions { PadToken = "!" });
        // Default pad: "!!!" is one pre-token, byte-pair encoded as a whole.
        Assert.Equal(plain.EncodeToIds("wow").Concat(plain.EncodeToIds("!!!")).ToArray(), plain.EncodeToIds("wow!!!"));
        Assert.Equal("!</w>", plain.Tokenize("wow!!!")[^1]);
        // pad_token "!" is a special added token: every "!" is split out as id 0 before BPE.
        Assert.Equal(plain.EncodeToIds("wow").Concat([0, 0, 0]).ToArray(), bang.EncodeToIds("wow!!!"));
        Assert.NotEqual(plain.EncodeToIds("wow!!!"), bang.EncodeToIds("wow!!!"));
        Assert.Equal([0, .. plain.EncodeToIds("a"), 0], bang.EncodeToIds("!a!"));
    }

    [GoldenFact]
    public void Clip_special_tokens_in_the_prompt_are_matched_literally()
    {
        if (Dir("clip") is not string dir) return;
        var clip = ClipTokenizer.FromFolder(dir);
        int[] ids = clip.EncodeToIds("a cat <|endoftext|> a dog");
        Assert.Equal(clip.EncodeToIds("a cat").Concat([clip.EosTokenId]).Concat(clip.EncodeToIds("a dog")).ToArray(), ids);
        // Upper case escapes the literal match but is lower-cased and then caught by the pre-tokenizer,
        // which CLIPTokenizer.bpe maps to itself: transformers gives the special id too.
        Assert.Equal([clip.BosTokenId], clip.EncodeToIds("<|STARTOFTEXT|>"));
    }

    [GoldenFact]
    public void Clip_textual_inversion_tokens_match_inside_words()
    {
        if (Dir("clip") is not string dir) return;
        var clip = ClipTokenizer.FromFolder(dir, new TokenizerOptions { AddedTokens = ["<cat-toy>"] });
        int id = clip.AddedTokens.Single(t => t.Content == "<cat-toy>").Id;
        Assert.Equal(1000, id);
        Assert.Equal(clip.EncodeToIds("a").Concat([id]).Concat(clip.EncodeToIds("b")).ToArray(), clip.EncodeToIds("a<cat-toy>b"));
        // Case matters for added tokens (CLIP has no do_lower_case).
        Assert.DoesNotContain(id, clip.EncodeToIds("<CAT-TOY>"));
    }

    [GoldenFact]
    public void Clip_left_padding_and_longest_padding()
    {
        if (Dir("clip") is not string dir) return;
        var clip = ClipTokenizer.FromFolder(dir);
        TokenizedPrompt right = clip.Encode("a cat", TokenizerCall.PaddedTo(10));
        TokenizedPrompt left = clip.Encode("a cat", TokenizerCall.PaddedTo(10) with { PaddingSide = PaddingSide.Left });
        Assert.Equal(right.InputIds[..4], left.InputIds[6..]);
        Assert.Equal([0, 0, 0, 0, 0, 0, 1, 1, 1, 1], left.AttentionMask);

        IReadOnlyList<TokenizedPrompt> batch = clip.EncodeBatch(["a cat", "a cat on a red chair"], new TokenizerCall
        {
            Padding = PaddingStrategy.Longest,
            PadToMultipleOf = 4,
        });
        Assert.Equal(batch[0].Length, batch[1].Length);
        Assert.Equal(0, batch[0].Length % 4);
        Assert.True(batch[0].Length >= batch[1].TokenCount);
    }

    [GoldenFact]
    public void Clip_reads_pad_token_and_added_tokens_from_tokenizer_config()
    {
        // SD3's tokenizer_2 layout: pad_token "!" with id 0 declared in added_tokens_decoder.
        if (Dir("clip") is not string dir) return;
        using var temp = new TempDirectory();
        string folder = temp.Sub("tokenizer_2");
        TempDirectory.CopyFiles(dir, folder);
        TempDirectory.WriteText(folder, "tokenizer_config.json", """
            {
              "add_prefix_space": false,
              "added_tokens_decoder": {
                "0": {"content": "!", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true},
                "998": {"content": "<|startoftext|>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false, "special": true},
                "999": {"content": "<|endoftext|>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false, "special": true}
              },
              "bos_token": "<|startoftext|>",
              "eos_token": "<|endoftext|>",
              "model_max_length": 77,
              "pad_token": "!",
              "tokenizer_class": "CLIPTokenizer",
              "unk_token": "<|endoftext|>"
            }
            """);
        TempDirectory.WriteText(folder, "special_tokens_map.json", """
            {"bos_token": {"content": "<|startoftext|>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
             "eos_token": {"content": "<|endoftext|>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
             "pad_token": "!", "unk_token": {"content": "<|endoftext|>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false}}
            """);
        var fromConfig = ClipTokenizer.FromFolder(folder);
        var fromOption = ClipTokenizer.FromFolder(dir, new TokenizerOptions { PadToken = "!" });
        Assert.Equal(0, fromConfig.PadTokenId);
        Assert.Equal(77, fromConfig.ModelMaxLength);
        string prompt = "a cat, a dog; and a bird! (really?)";
        Assert.Equal(fromOption.Encode(prompt, TokenizerCall.Sd3Clip).InputIds, fromConfig.Encode(prompt, new TokenizerCall { Padding = PaddingStrategy.MaxLength, Truncation = true }).InputIds);
    }

    [GoldenFact]
    public void Clip_missing_or_corrupt_files_name_the_file()
    {
        if (Dir("clip") is not string dir) return;
        using var temp = new TempDirectory();

        string noVocab = temp.Sub("no_vocab");
        File.Copy(Path.Combine(dir, "merges.txt"), Path.Combine(noVocab, "merges.txt"));
        var e = Assert.Throws<TokenizerException>(() => ClipTokenizer.FromFolder(noVocab));
        Assert.Contains("vocab.json", e.Message);
        Assert.Contains(noVocab, e.Message);

        string badJson = temp.Sub("bad_json");
        TempDirectory.CopyFiles(dir, badJson);
        TempDirectory.WriteText(badJson, "vocab.json", "{\"a\": 1, \"b\": ");
        e = Assert.Throws<TokenizerException>(() => ClipTokenizer.FromFolder(badJson));
        Assert.Contains(Path.Combine(badJson, "vocab.json"), e.Message);

        string badMerges = temp.Sub("bad_merges");
        TempDirectory.CopyFiles(dir, badMerges);
        TempDirectory.WriteText(badMerges, "merges.txt", "#version: 0.2\nq zz\n");
        e = Assert.Throws<TokenizerException>(() => ClipTokenizer.FromFolder(badMerges));
        Assert.Contains("merges.txt", e.Message);

        string badConfig = temp.Sub("bad_config");
        TempDirectory.CopyFiles(dir, badConfig);
        TempDirectory.WriteText(badConfig, "tokenizer_config.json", "not json");
        e = Assert.Throws<TokenizerException>(() => ClipTokenizer.FromFolder(badConfig));
        Assert.Contains("tokenizer_config.json", e.Message);

        Assert.Throws<TokenizerException>(() => ClipTokenizer.FromFolder(Path.Combine(temp.Path, "nowhere")));
    }

    [GoldenFact]
    public void Calls_that_cannot_be_honoured_are_refused()
    {
        if (Dir("clip") is not string dir) return;
        var clip = ClipTokenizer.FromFolder(dir);
        Assert.Throws<TokenizerException>(() => clip.Encode("a", TokenizerCall.PaddedTo(2)));
        Assert.Throws<TokenizerException>(() => clip.Encode("a", TokenizerCall.PaddedTo(0)));
        Assert.Throws<TokenizerException>(() => clip.Encode("a", TokenizerCall.Lumina with { PadToMultipleOf = 0 }));
        // No model_max_length in the golden folder: max-length padding needs an explicit length.
        Assert.Throws<TokenizerException>(() => clip.Encode("a", new TokenizerCall { Padding = PaddingStrategy.MaxLength }));
        Assert.Empty(clip.EncodeBatch([], TokenizerCall.Sd3Clip));
    }

    // ---- T5 ---------------------------------------------------------------------------------------------

    [GoldenTheory]
    [InlineData("")]
    [InlineData("  \t \n ")]
    public void T5_empty_and_blank_prompts_are_eos_then_padding(string prompt)
    {
        if (Dir("t5") is not string dir) return;
        var t5 = T5Tokenizer.FromFolder(dir);
        TokenizedPrompt r = t5.Encode(prompt, TokenizerCall.Sd3T5);
        Assert.Equal(256, r.Length);
        Assert.Equal(t5.EosTokenId, r.InputIds[0]);
        Assert.All(r.InputIds[1..], id => Assert.Equal(0, id));
        Assert.Equal(1, r.TokenCount);
    }

    [GoldenFact]
    public void T5_long_prompt_is_truncated_keeping_eos()
    {
        if (Dir("t5") is not string dir) return;
        var t5 = T5Tokenizer.FromFolder(dir);
        string prompt = LongPrompt(60);
        int[] content = t5.EncodeToIds(prompt);
        Assert.True(content.Length > 512);
        foreach (TokenizerCall call in new[] { TokenizerCall.Sd3T5, TokenizerCall.FluxT5 })
        {
            TokenizedPrompt r = t5.Encode(prompt, call);
            int max = call.MaxLength!.Value;
            Assert.Equal(max, r.Length);
            Assert.True(r.Truncated);
            Assert.Equal(content.Length + 1, r.UntruncatedLength);
            Assert.Equal(content[..(max - 1)], r.InputIds[..^1]);
            Assert.Equal(t5.EosTokenId, r.InputIds[^1]);
        }
    }

    [GoldenFact]
    public void T5_special_tokens_in_text()
    {
        if (Dir("t5") is not string dir) return;
        var t5 = T5Tokenizer.FromFolder(dir);
        // </s> typed by the user: matched literally, and no second eos is added (_add_eos_if_not_present).
        int[] ids = t5.Encode("a cat</s>", TokenizerCall.Untruncated).InputIds;
        Assert.Equal(t5.EncodeToIds("a cat").Concat([1]).ToArray(), ids);
        // Sentinels eat the whitespace around them (lstrip / rstrip).
        Assert.Equal(t5.EncodeToIds("a").Concat([299]).Concat(t5.EncodeToIds("b")).ToArray(), t5.EncodeToIds("a  <extra_id_0>  b"));
        Assert.Equal([200], t5.EncodeToIds("<extra_id_99>"));
    }

    [GoldenFact]
    public void T5_runs_of_unknown_characters_are_one_unk_and_nfkc_applies()
    {
        if (Dir("t5") is not string dir) return;
        var t5 = T5Tokenizer.FromFolder(dir);
        Assert.Equal([3, 2], t5.EncodeToIds("猫猫🐱"));
        Assert.Equal(["▁", "猫猫🐱"], t5.Tokenize("猫猫🐱"));
        Assert.Equal([3, 2, 3, 2], t5.EncodeToIds("猫 猫"));
        // nmt_nfkc: full-width letters are the ASCII ones; T5 keeps case.
        Assert.Equal(t5.EncodeToIds("a cat"), t5.EncodeToIds("ａ ｃａｔ"));
        Assert.NotEqual(t5.EncodeToIds("a cat"), t5.EncodeToIds("A CAT"));
    }

    [GoldenFact]
    public void T5_model_with_negative_bos_id_loads_and_the_file_is_not_changed()
    {
        if (Dir("t5") is not string dir) return;
        string path = Path.Combine(dir, "spiece.model");
        byte[] before = File.ReadAllBytes(path);
        var t5 = T5Tokenizer.FromFolder(dir);
        Assert.Equal([4, 49, 3, 11, 4, 61, 1], t5.Encode("a photo of a cat", TokenizerCall.Untruncated).InputIds);
        Assert.Equal(before, File.ReadAllBytes(path));

        var model = SentencePieceModelFile.Read(path);
        Assert.Equal(-1, model.BosId);
        byte[] patched = model.BytesForMicrosoftMLTokenizers();
        Assert.NotEqual(before, patched);
        using var temp = new TempDirectory();
        File.WriteAllBytes(Path.Combine(temp.Path, "p.model"), patched);
        var reread = SentencePieceModelFile.Read(Path.Combine(temp.Path, "p.model"));
        Assert.Equal(model.UnkId, reread.BosId);
        Assert.Equal(model.EosId, reread.EosId);
        Assert.Equal(model.Pieces, reread.Pieces);
    }

    [GoldenFact]
    public void T5_corrupt_or_missing_model_names_the_file()
    {
        if (Dir("t5") is not string dir) return;
        using var temp = new TempDirectory();
        var e = Assert.Throws<TokenizerException>(() => T5Tokenizer.FromFolder(temp.Path));
        Assert.Contains("spiece.model", e.Message);
        Assert.Contains(temp.Path, e.Message);

        byte[] bytes = File.ReadAllBytes(Path.Combine(dir, "spiece.model"));
        File.WriteAllBytes(Path.Combine(temp.Path, "spiece.model"), bytes[..(bytes.Length / 2)]);
        e = Assert.Throws<TokenizerException>(() => T5Tokenizer.FromFolder(temp.Path));
        Assert.Contains(Path.Combine(temp.Path, "spiece.model"), e.Message);

        File.WriteAllText(Path.Combine(temp.Path, "spiece.model"), "this is not a protobuf file, just text\n");
        e = Assert.Throws<TokenizerException>(() => T5Tokenizer.FromFolder(temp.Path));
        Assert.Contains(Path.Combine(temp.Path, "spiece.model"), e.Message);
    }

    // ---- Gemma / Lumina ---------------------------------------------------------------------------------

    [GoldenFact]
    public void Gemma_lumina_preset_lower_cases_and_strips_the_prompt()
    {
        if (Dir("gemma") is not string dir) return;
        var gemma = GemmaTokenizer.FromFolder(dir);
        TokenizedPrompt pipeline = gemma.Encode("  A Photo Of A CAT \n", TokenizerCall.Lumina);
        TokenizedPrompt plain = gemma.Encode("a photo of a cat", TokenizerCall.Lumina with { Preprocessing = PromptPreprocessing.None });
        Assert.Equal(plain.InputIds, pipeline.InputIds);
        Assert.Equal([2, 350, 271, 328, 276, 260, 280, 352], pipeline.InputIds);
        // The tokenizer itself keeps case (Gemma is case-sensitive).
        Assert.NotEqual(gemma.EncodeToIds("a cat"), gemma.EncodeToIds("A CAT"));
    }

    [GoldenFact]
    public void Gemma_empty_prompt_is_bos_padded_to_eight()
    {
        if (Dir("gemma") is not string dir) return;
        var gemma = GemmaTokenizer.FromFolder(dir);
        TokenizedPrompt r = gemma.Encode("", TokenizerCall.Lumina);
        Assert.Equal([2, 0, 0, 0, 0, 0, 0, 0], r.InputIds);
        Assert.Equal([1, 0, 0, 0, 0, 0, 0, 0], r.AttentionMask);
    }

    [GoldenFact]
    public void Gemma_long_prompt_is_truncated_to_256_with_bos_and_no_eos()
    {
        if (Dir("gemma") is not string dir) return;
        var gemma = GemmaTokenizer.FromFolder(dir);
        string prompt = LongPrompt(30);
        int[] content = gemma.EncodeToIds(prompt);
        Assert.True(content.Length > 255);
        TokenizedPrompt r = gemma.Encode(prompt, TokenizerCall.Lumina);
        Assert.Equal(256, r.Length);
        Assert.True(r.Truncated);
        Assert.Equal(content.Length + 1, r.UntruncatedLength);
        Assert.Equal(2, r.InputIds[0]);
        Assert.Equal(content[..255], r.InputIds[1..]);
    }

    [GoldenFact]
    public void Lumina_batch_pads_together_and_negatives_take_the_conditional_length()
    {
        if (Dir("gemma") is not string dir) return;
        var gemma = GemmaTokenizer.FromFolder(dir);
        IReadOnlyList<TokenizedPrompt> cond = gemma.EncodeBatch(["a cat", "a close up photo of a small cat on a red chair"], TokenizerCall.Lumina);
        int length = cond[0].Length;
        Assert.Equal(length, cond[1].Length);
        Assert.Equal(0, length % 8);
        Assert.True(length >= cond[1].TokenCount && length - cond[1].TokenCount < 8);

        IReadOnlyList<TokenizedPrompt> uncond = gemma.EncodeBatch(["", LongPrompt(5)], TokenizerCall.LuminaNegative(length));
        Assert.All(uncond, u => Assert.Equal(length, u.Length));
        Assert.Equal(1, uncond[0].TokenCount);
        Assert.True(uncond[1].Truncated);
        // The negative prompt is not lower-cased by the pipeline.
        Assert.NotEqual(gemma.Encode("A CAT", TokenizerCall.LuminaNegative(8)).InputIds, gemma.Encode("a cat", TokenizerCall.LuminaNegative(8)).InputIds);
    }

    [GoldenFact]
    public void Gemma_padding_side_and_eos_follow_tokenizer_config()
    {
        if (Dir("gemma") is not string dir) return;
        using var temp = new TempDirectory();
        TempDirectory.CopyFiles(dir, temp.Path);
        TempDirectory.WriteText(temp.Path, "tokenizer_config.json",
            """{"add_bos_token": true, "add_eos_token": true, "padding_side": "left", "tokenizer_class": "GemmaTokenizer"}""");
        var gemma = GemmaTokenizer.FromFolder(temp.Path);
        Assert.Equal(PaddingSide.Left, gemma.PaddingSide);
        TokenizedPrompt r = gemma.Encode("a cat", TokenizerCall.Lumina with { Preprocessing = PromptPreprocessing.None });
        int[] content = gemma.EncodeToIds("a cat");
        Assert.Equal(8, r.Length);
        Assert.Equal([2, .. content, 1], r.InputIds[(8 - content.Length - 2)..]);
        Assert.Equal(0, r.AttentionMask[0]);
        Assert.Equal(1, r.AttentionMask[^1]);
    }

    [GoldenFact]
    public void Gemma_user_defined_pieces_are_kept_whole_as_sentencepiece_does()
    {
        // sentencepiece's BPE matches USER_DEFINED pieces first and never merges across them (real Gemma
        // models have many: whitespace runs, markup); Microsoft.ML.Tokenizers 2.0.1 does not.
        if (Dir("gemma") is not string dir) return;
        var plain = GemmaTokenizer.FromFolder(dir);
        Assert.Equal(["a", "▁ca", "t"], plain.Tokenize("a cat"));

        using var temp = new TempDirectory();
        byte[] model = ModelProtoEditor.SetPieceType(File.ReadAllBytes(Path.Combine(dir, "tokenizer.model")), "at", 4);
        File.WriteAllBytes(Path.Combine(temp.Path, "tokenizer.model"), model);
        var userDefined = GemmaTokenizer.FromFolder(temp.Path);
        Assert.Equal(["a", "▁c", "at"], userDefined.Tokenize("a cat"));
        Assert.Equal(["▁w", "at", "er", "at"], userDefined.Tokenize(" waterat"));
    }
}
