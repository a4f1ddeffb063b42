using AccelAes.Loader.Tokenizers;

namespace AccelAes.Loader.Tests.Tokenizers;

/// <summary>Lumina-Next's two tokenizer calls per generation.</summary>
public sealed class PipelineTokenizationTests
{
    [GoldenFact]
    public void Lumina_conditional_and_unconditional_batches_stack()
    {
        if (SharedData.TokenizersDir is not string d) return;
        var gemma = GemmaTokenizer.FromFolder(Path.Combine(d, "gemma"));
        LuminaTokens t = PipelineTokenization.EncodeLumina(gemma, ["A Cat", "a close up photo of a small cat on a red chair"]);
        Assert.Equal(2, t.Unconditional!.Count);
        Assert.All(t.Conditional.Concat(t.Unconditional), r => Assert.Equal(t.Length, r.Length));
        Assert.Equal(gemma.Encode("a cat", TokenizerCall.PaddedTo(t.Length)).InputIds, t.Conditional[0].InputIds);
        Assert.Equal(gemma.Encode("", TokenizerCall.PaddedTo(t.Length)).InputIds, t.Unconditional[1].InputIds);

        LuminaTokens custom = PipelineTokenization.EncodeLumina(gemma, ["a cat"], ["Blurry, Ugly, " + string.Join(" ", Enumerable.Repeat("bad", 40))]);
        Assert.Equal(8, custom.Length);
        Assert.True(custom.Unconditional![0].Truncated);

        Assert.Null(PipelineTokenization.EncodeLumina(gemma, ["a cat"], classifierFreeGuidance: false).Unconditional);
        Assert.Throws<TokenizerException>(() => PipelineTokenization.EncodeLumina(gemma, ["a", "b"], ["x"]));
    }
}
