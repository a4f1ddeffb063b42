using System.Text.Json;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Loader.Tests.Tokenizers;

/// <summary>
/// Every case of the three tokenizer golden files (transformers' slow tokenizers on the tiny vocabularies
/// of conformance/text_encoders/tokenizers), matched by prompt: ids, attention masks, untruncated lengths,
/// and for CLIP the cleaned text, the tokens, the pad-'!' and added-token variants.
/// </summary>
public sealed class GoldenTokenizerTests
{
    private const string ClipGolden = "clip_tokenizer_golden.json";
    private const string T5Golden = "t5_tokenizer_golden.json";
    private const string GemmaGolden = "gemma_tokenizer_golden.json";

    // The golden call: tokenizer(prompt, padding='max_length', max_length=77, truncation=True).
    private static readonly TokenizerCall ClipCall = TokenizerCall.PaddedTo(77);

    // tokenizer(prompt, padding='max_length', max_length=20, truncation=True, add_special_tokens=True).
    private static readonly TokenizerCall T5Call = TokenizerCall.PaddedTo(20);

    // Lumina's call as the golden made it: no lower-casing (the golden tokenizes the prompt as given).
    private static readonly TokenizerCall GemmaCall = TokenizerCall.Lumina with { Preprocessing = PromptPreprocessing.None };

    public static IEnumerable<object[]> ClipPrompts() => SharedData.Prompts(ClipGolden);
    public static IEnumerable<object[]> T5Prompts() => SharedData.Prompts(T5Golden);
    public static IEnumerable<object[]> GemmaPrompts() => SharedData.Prompts(GemmaGolden);

    private static ClipTokenizer Clip(TokenizerOptions? options = null) =>
        ClipTokenizer.FromFolder(Path.Combine(SharedData.TokenizersDir!, "clip"), options);

    [GoldenTheory]
    [MemberData(nameof(ClipPrompts))]
    public void Clip_ids_mask_and_untruncated_length(string prompt)
    {
        if (SharedData.Case(ClipGolden, prompt) is not JsonElement c) return;
        TokenizedPrompt result = Clip().Encode(prompt, ClipCall);
        Assert.Equal(c.GetProperty("input_ids").Ints(), result.InputIds);
        Assert.Equal(c.GetProperty("attention_mask").Ints(), result.AttentionMask);
        int untruncated = c.GetProperty("n_ids_untruncated").GetInt32();
        Assert.Equal(untruncated, result.UntruncatedLength);
        Assert.Equal(untruncated > 77, result.Truncated);
    }

    [GoldenTheory]
    [MemberData(nameof(ClipPrompts))]
    public void Clip_cleaned_text_and_tokens(string prompt)
    {
        if (SharedData.Case(ClipGolden, prompt) is not JsonElement c) return;
        Assert.Equal(c.GetProperty("basic_tokenizer_text").GetString(), ClipTokenizer.CleanText(prompt));
        Assert.Equal(c.GetProperty("tokens").Strings(), Clip().Tokenize(prompt));
    }

    [GoldenTheory]
    [MemberData(nameof(ClipPrompts))]
    public void Clip_with_pad_token_bang(string prompt)
    {
        if (SharedData.Case(ClipGolden, prompt) is not JsonElement c) return;
        ClipTokenizer tokenizer = Clip(new TokenizerOptions { PadToken = "!" });
        Assert.Equal(0, tokenizer.PadTokenId);
        TokenizedPrompt result = tokenizer.Encode(prompt, ClipCall);
        int[] expected = c.GetProperty("input_ids_pad_bang").Ints();
        Assert.Equal(expected, result.InputIds);

        // '!' becomes a special token: the unpadded part changes exactly when the golden says so.
        TokenizedPrompt plain = Clip().Encode(prompt, ClipCall);
        bool changed = !plain.InputIds.AsSpan(0, plain.TokenCount).SequenceEqual(result.InputIds.AsSpan(0, result.TokenCount));
        Assert.Equal(c.GetProperty("pad_bang_changes_unpadded_ids").GetBoolean(), changed);
    }

    [GoldenFact]
    public void Clip_added_tokens_case()
    {
        if (SharedData.Golden(ClipGolden) is not JsonElement golden) return;
        Assert.True(golden.TryGetProperty("added_tokens_case", out JsonElement c), "the CLIP golden has no added_tokens_case");
        var added = c.GetProperty("added_tokens").EnumerateObject().OrderBy(p => p.Value.GetInt32()).ToList();
        ClipTokenizer tokenizer = Clip(new TokenizerOptions { PadToken = "!", AddedTokens = added.Select(p => p.Name).ToList() });
        foreach (JsonProperty p in added)
        {
            Assert.Equal(p.Value.GetInt32(), tokenizer.AddedTokens.Single(t => t.Content == p.Name).Id);
        }

        string prompt = c.GetProperty("prompt").GetString()!;
        Assert.Equal(c.GetProperty("tokens").Strings(), tokenizer.Tokenize(prompt));
        Assert.Equal(c.GetProperty("input_ids_pad_bang").Ints(), tokenizer.Encode(prompt, ClipCall).InputIds);
    }

    [GoldenFact]
    public void Clip_special_ids_match_the_golden_header()
    {
        if (SharedData.Golden(ClipGolden) is not JsonElement golden) return;
        JsonElement special = golden.GetProperty("special_ids");
        ClipTokenizer tokenizer = Clip();
        Assert.Equal(special.GetProperty("<|startoftext|>").GetInt32(), tokenizer.BosTokenId);
        Assert.Equal(special.GetProperty("<|endoftext|>").GetInt32(), tokenizer.EosTokenId);
        Assert.Equal(special.GetProperty("pad (default = <|endoftext|>)").GetInt32(), tokenizer.PadTokenId);
        Assert.Equal(golden.GetProperty("vocab_size").GetInt32(), tokenizer.VocabularySize);
    }

    [GoldenFact]
    public void Clip_encoder_golden_inputs_are_reproduced()
    {
        // clip_text_tiny/inputs.safetensors: the two prompts of README §1, tokenized by the golden tokenizer.
        if (SharedData.TextEncodersDir is not string dir) return;
        int[] expected = SharedData.ReadInt64Tensors(Path.Combine(dir, "clip_text_tiny", "inputs.safetensors"))["input_ids"];
        IReadOnlyList<TokenizedPrompt> batch = Clip().EncodeBatch(["a photo of a cat", "a cat, a dog; and a bird! (really?)"], ClipCall);
        Assert.Equal(expected, batch.SelectMany(r => r.InputIds).ToArray());
    }

    [GoldenTheory]
    [MemberData(nameof(T5Prompts))]
    public void T5_ids_mask_and_untruncated_ids(string prompt)
    {
        if (SharedData.Case(T5Golden, prompt) is not JsonElement c) return;
        var tokenizer = T5Tokenizer.FromFolder(Path.Combine(SharedData.TokenizersDir!, "t5"));
        TokenizedPrompt result = tokenizer.Encode(prompt, T5Call);
        Assert.Equal(c.GetProperty("input_ids").Ints(), result.InputIds);
        Assert.Equal(c.GetProperty("attention_mask").Ints(), result.AttentionMask);

        int[] untruncated = c.GetProperty("ids_untruncated").Ints();
        Assert.Equal(untruncated, tokenizer.Encode(prompt, TokenizerCall.Untruncated).InputIds);
        Assert.Equal(untruncated.Length, result.UntruncatedLength);
        Assert.Equal(untruncated.Length > 20, result.Truncated);
    }

    [GoldenTheory]
    [MemberData(nameof(T5Prompts))]
    public void T5_tokens(string prompt)
    {
        if (SharedData.Case(T5Golden, prompt) is not JsonElement c) return;
        var tokenizer = T5Tokenizer.FromFolder(Path.Combine(SharedData.TokenizersDir!, "t5"));
        Assert.Equal(c.GetProperty("tokens").Strings(), tokenizer.Tokenize(prompt));
    }

    [GoldenFact]
    public void T5_special_ids_match_the_golden_header()
    {
        if (SharedData.Golden(T5Golden) is not JsonElement golden) return;
        JsonElement special = golden.GetProperty("special_ids");
        var tokenizer = T5Tokenizer.FromFolder(Path.Combine(SharedData.TokenizersDir!, "t5"));
        Assert.Equal(special.GetProperty("<pad>").GetInt32(), tokenizer.PadTokenId);
        Assert.Equal(special.GetProperty("</s>").GetInt32(), tokenizer.EosTokenId);
        Assert.Equal(golden.GetProperty("sp_vocab_size").GetInt32(), tokenizer.PieceCount);
        foreach (JsonProperty p in special.EnumerateObject())
        {
            // Special tokens in the text are matched literally (<extra_id_N> numbered downwards).
            Assert.Equal([p.Value.GetInt32()], tokenizer.EncodeToIds(p.Name));
        }
    }

    [GoldenTheory]
    [MemberData(nameof(GemmaPrompts))]
    public void Gemma_ids_and_mask(string prompt)
    {
        if (SharedData.Case(GemmaGolden, prompt) is not JsonElement c) return;
        var tokenizer = GemmaTokenizer.FromFolder(Path.Combine(SharedData.TokenizersDir!, "gemma"));
        TokenizedPrompt result = tokenizer.Encode(prompt, GemmaCall);
        Assert.Equal(c.GetProperty("input_ids").Ints(), result.InputIds);
        Assert.Equal(c.GetProperty("attention_mask").Ints(), result.AttentionMask);
        Assert.Equal(0, result.Length % 8);
        Assert.False(result.Truncated);
    }

    [GoldenTheory]
    [MemberData(nameof(GemmaPrompts))]
    public void Gemma_tokens(string prompt)
    {
        if (SharedData.Case(GemmaGolden, prompt) is not JsonElement c) return;
        var tokenizer = GemmaTokenizer.FromFolder(Path.Combine(SharedData.TokenizersDir!, "gemma"));
        Assert.Equal(c.GetProperty("tokens").Strings(), tokenizer.Tokenize(prompt));
    }

    [GoldenFact]
    public void Gemma_special_ids_match_the_golden_header()
    {
        if (SharedData.Golden(GemmaGolden) is not JsonElement golden) return;
        JsonElement special = golden.GetProperty("special_ids");
        var tokenizer = GemmaTokenizer.FromFolder(Path.Combine(SharedData.TokenizersDir!, "gemma"));
        Assert.Equal(special.GetProperty("<pad>").GetInt32(), tokenizer.PadTokenId);
        Assert.Equal(special.GetProperty("<bos>").GetInt32(), tokenizer.BosTokenId);
        Assert.Equal(golden.GetProperty("vocab_size").GetInt32(), tokenizer.PieceCount);
        Assert.Equal([special.GetProperty("<eos>").GetInt32()], tokenizer.EncodeToIds("<eos>"));
    }

    [GoldenFact]
    public void Gemma_encoder_golden_batch_is_reproduced()
    {
        // gemma_tiny/inputs.safetensors: the Lumina call on two prompts padded together (16 = 2 x 8).
        if (SharedData.TextEncodersDir is not string dir) return;
        Dictionary<string, int[]> inputs = SharedData.ReadInt64Tensors(Path.Combine(dir, "gemma_tiny", "inputs.safetensors"));
        var tokenizer = GemmaTokenizer.FromFolder(Path.Combine(dir, "tokenizers", "gemma"));
        IReadOnlyList<TokenizedPrompt> batch = tokenizer.EncodeBatch(["a close up photo of a small", "a photo of a cat"], GemmaCall);
        Assert.Equal(inputs["input_ids"], batch.SelectMany(r => r.InputIds).ToArray());
        Assert.Equal(inputs["attention_mask"], batch.SelectMany(r => r.AttentionMask).ToArray());
    }
}
