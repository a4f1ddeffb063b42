using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tiny;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Engine.Tests.Generation;

/// <summary>
/// The generated SentencePiece tokenizers of the tiny FLUX (T5) and Lumina (Gemma) pipelines load as T5 / Gemma
/// tokenizers, behave as those do (special tokens, unknown characters, byte fallback, dummy prefix), and produce
/// ids the tiny encoders' vocabularies hold.
/// </summary>
public class TinyTokenizerTests
{
    private static IPromptTokenizer Write(Action<string> write)
    {
        var dir = new TempDirectory();
        write(dir.Path);
        // Loaded into memory; the folder can go.
        var tokenizer = TokenizerFactory.FromFolder(dir.Path);
        dir.Dispose();
        return tokenizer;
    }

    [Fact]
    public void T5_is_a_unigram_t5_tokenizer_with_eos_pad_unk_and_sentinels()
    {
        IPromptTokenizer t5 = Write(d => TinyTokenizers.WriteT5(d));
        Assert.Equal(TokenizerKind.T5, t5.Kind);
        Assert.Equal(TinyTokenizers.T5PadId, t5.PadTokenId);
        Assert.Equal(512, t5.ModelMaxLength);
        // Dummy prefix, "▁"-letter pieces and bigrams preferred over characters, </s> appended.
        Assert.Equal(["▁t", "he", "▁c", "at"], t5.Tokenize("the cat"));
        int[] ids = t5.Encode("the cat", TokenizerCall.Untruncated).InputIds;
        Assert.Equal(5, ids.Length);
        Assert.Equal(TinyTokenizers.T5EosId, ids[^1]);
        // Extra whitespace removed; no byte fallback: an unknown character is <unk>.
        Assert.Equal(t5.EncodeToIds("the cat"), t5.EncodeToIds("  the   cat "));
        Assert.Contains(TinyTokenizers.T5UnkId, t5.EncodeToIds("the é"));
        // Sentinels follow the pieces: <extra_id_0> is the last id.
        Assert.Equal([TinyTokenizers.T5PieceCount + TinyTokenizers.T5ExtraIds - 1], t5.EncodeToIds("<extra_id_0>"));
        int[] padded = t5.Encode("the cat", TokenizerCall.FluxT5).InputIds;
        Assert.Equal(512, padded.Length);
        Assert.Equal(TinyTokenizers.T5PadId, padded[^1]);
    }

    [Fact]
    public void Gemma_is_a_bpe_gemma_tokenizer_with_bos_and_byte_fallback()
    {
        IPromptTokenizer gemma = Write(TinyTokenizers.WriteGemma);
        Assert.Equal(TokenizerKind.Gemma, gemma.Kind);
        Assert.Equal(TinyTokenizers.GemmaPadId, gemma.PadTokenId);
        Assert.Equal(PaddingSide.Right, gemma.PaddingSide);
        // No dummy prefix; merges to "▁"-letter pieces and bigrams.
        // (BPE merges by score: "▁c" first, then "th" before "he", then "at".)
        Assert.Equal(["th", "e", "▁c", "at"], gemma.Tokenize("the cat"));
        int[] ids = gemma.Encode("the cat", TokenizerCall.Untruncated).InputIds;
        Assert.Equal(TinyTokenizers.GemmaBosId, ids[0]);
        // é is not a piece: its UTF-8 bytes C3 A9 become byte pieces.
        Assert.Equal(["<0xC3>", "<0xA9>"], gemma.Tokenize("é"));
        Assert.Equal([4 + 0xC3, 4 + 0xA9], gemma.EncodeToIds("é"));
        // Spaces are kept as they are (no whitespace clean-up).
        Assert.NotEqual(gemma.EncodeToIds("the cat"), gemma.EncodeToIds("the  cat"));
    }

    [Fact]
    public void Vocabularies_fit_the_tiny_encoders()
    {
        Assert.Equal(TinyTextEncoders.GemmaVocabSize, TinyTokenizers.GemmaPieceCount);
        Assert.True(TinyTokenizers.T5PieceCount + TinyTokenizers.T5ExtraIds <= TinyTextEncoders.T5VocabSize);
        IPromptTokenizer t5 = Write(d => TinyTokenizers.WriteT5(d));
        IPromptTokenizer gemma = Write(TinyTokenizers.WriteGemma);
        string every = string.Concat(Enumerable.Range(0x20, 0x5F).Select(c => (char)c)) + " é€😀 <extra_id_0>";
        Assert.All(t5.EncodeToIds(every), id => Assert.InRange(id, 0, TinyTextEncoders.T5VocabSize - 1));
        Assert.All(gemma.EncodeToIds(every), id => Assert.InRange(id, 0, TinyTextEncoders.GemmaVocabSize - 1));
    }

    [Fact]
    public void Pipeline_tokenizer_calls_are_the_diffusers_calls()
    {
        var flux = PipelineTokenizerCalls.Of("FluxPipeline");
        Assert.Equal(["tokenizer", "tokenizer_2"], flux.Select(c => c.Component));
        Assert.Equal([77, 512], flux.Select(c => c.Call.MaxLength!.Value));
        Assert.All(flux, c => Assert.Equal(PaddingStrategy.MaxLength, c.Call.Padding));
        var sd3 = PipelineTokenizerCalls.Of("StableDiffusion3Pipeline");
        Assert.Equal([77, 77, 256], sd3.Select(c => c.Call.MaxLength!.Value));
        foreach (string name in new[] { "LuminaPipeline", "LuminaText2ImgPipeline" })
        {
            var lumina = Assert.Single(PipelineTokenizerCalls.Of(name));
            Assert.Equal((256, 8, PaddingStrategy.Longest, PromptPreprocessing.LowerCaseAndStrip),
                (lumina.Call.MaxLength!.Value, lumina.Call.PadToMultipleOf!.Value, lumina.Call.Padding, lumina.Call.Preprocessing));
        }
        Assert.Equal(512, PipelineTokenizerCalls.ForKind(TokenizerKind.T5).Call.MaxLength);
        Assert.Contains("tokenizer_2 (T5)", Assert.Throws<AccelAesException>(() => PipelineTokenizerCalls.Of("FluxPipeline", "tokenizer_3")).Message);
        Assert.Throws<AccelAesException>(() => PipelineTokenizerCalls.Of("StableDiffusionXLPipeline"));
    }
}
