using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Engine.Tests.Acceleration;

public class TokenImportanceTests
{
    [Fact]
    public void Stopword_list_and_rule()
    {
        // The reference's frozenset has 66 entries (the reference notes call it 63).
        Assert.Equal(66, Stopwords.Words.Count);
        Assert.Equal(66, Stopwords.Words.Distinct().Count());
        Assert.Equal("a", Stopwords.Words[0]);
        Assert.Equal("very", Stopwords.Words[^1]);
        Assert.True(Stopwords.IsStopword("The,"));
        Assert.True(Stopwords.IsStopword("(of)"));
        Assert.True(Stopwords.IsStopword("x"));
        Assert.True(Stopwords.IsStopword("-"));
        Assert.True(Stopwords.IsStopword("\"\""));
        Assert.True(Stopwords.IsStopword("😀")); // one code point, two UTF-16 units
        Assert.False(Stopwords.IsStopword("ox"));
        Assert.False(Stopwords.IsStopword("portrait,"));
        Assert.False(Stopwords.IsStopword("-a-")); // '-' is not stripped
    }

    [Fact]
    public void Anchor_phrases_are_the_references_34_in_order()
    {
        Assert.Equal(34, AestheticAnchors.Phrases.Count);
        Assert.Equal(34, AestheticAnchors.Phrases.Distinct().Count());
        Assert.Equal(["photorealistic", "realistic", "cinematic", "highly detailed"], AestheticAnchors.Phrases.Take(4));
        Assert.Equal("sharp focus", AestheticAnchors.Phrases[14]);
        Assert.Equal("depth of field", AestheticAnchors.Phrases[21]);
        Assert.Equal(["subject", "character", "object", "figure", "person"], AestheticAnchors.Phrases.TakeLast(5));
    }

    [Fact]
    public void Sentencepiece_grouping_follows_the_reference()
    {
        string?[] texts = [null, "▁A", "▁beau", "ti", "ful", ",", " old", null, "man", "▁", "x", null];
        var words = WordGrouping.Group(texts);
        Assert.Equal(["A", "beautiful,", "old", "man", "x"], words.Select(w => w.Text));
        Assert.Equal([2, 3, 4, 5], words[1].Positions);
        Assert.Equal([9, 10], words[4].Positions); // "▁" alone starts an empty word that "x" continues
    }

    [Fact]
    public void Clip_grouping_ends_words_at_end_of_word_markers()
    {
        string?[] texts = [null, "a</w>", "beauti", "ful</w>", ",</w>", "portrait</w>", null, null];
        var words = WordGrouping.Group(texts, WordBoundaryStyle.TrailingEndOfWord);
        Assert.Equal(["a", "beautiful", ",", "portrait"], words.Select(w => w.Text));
        Assert.Equal([2, 3], words[1].Positions);
    }

    [Fact]
    public void Compute_scores_each_distinct_content_word_once_and_maps_to_positions()
    {
        var embedder = new TableEmbedder(new() { ["beautiful"] = 0.9f, ["cat"] = 0.3f, ["cat,"] = 0.5f });
        var importance = new TokenImportance(embedder, PrescribedSimilarityEmbedder.Anchors);
        var tokens = new PromptTokens([null, "▁a", "▁beautiful", "▁cat", "▁cat", ",", "▁beautiful", null], [1, 1, 1, 1, 1, 1, 1, 0]);
        var r = importance.Compute(tokens);
        Assert.Equal(ImportanceBranch.Normalised, r.Branch);
        Assert.Equal(1, embedder.Calls);
        Assert.Equal(3, embedder.Phrases.Count); // beautiful, cat, cat, (each once)
        float d = (0.9f - 0.3f) + 1e-8f;
        Assert.Equal([0f, 0f, 1f, 0f, (0.5f - 0.3f) / d, (0.5f - 0.3f) / d, 1f, 0f], r.Importance);
        Assert.Equal(0.9f, r.BestSimilarity);

        var below = new TokenImportance(embedder, PrescribedSimilarityEmbedder.Anchors, confidenceGate: 0.95);
        Assert.Equal([0f, 0f, 1f, 1f, 1f, 1f, 1f, 0f], below.Compute(tokens).Importance);
        Assert.Equal(ImportanceBranch.BelowGate, below.Compute(tokens).Branch);
    }

    [Fact]
    public void The_runs_rule_sets_the_gate_and_top_k_keeps_the_k_best_words_at_the_gate()
    {
        var embedder = new TableEmbedder(new() { ["bright"] = 0.9f, ["moody"] = 0.7f, ["soft"] = 0.65f, ["cat"] = 0.3f });
        var importance = new TokenImportance(embedder, PrescribedSimilarityEmbedder.Anchors);
        var tokens = new PromptTokens([null, "▁bright", "▁moody", "▁soft", "▁cat", "▁bright", null], [1, 1, 1, 1, 1, 1, 0]);

        // The gate comes from the rule, not only the constructor: 0.95 is above every word.
        var gated = importance.Compute(tokens, WordScoringRule.Reference with { Gate = 0.95 });
        Assert.Equal(ImportanceBranch.BelowGate, gated.Branch);
        Assert.Equal(ImportanceBranch.Normalised, importance.Compute(tokens, WordScoringRule.Reference).Branch);

        // Top-2 at gate 0.6: "bright" (both occurrences count as one word each; ties keep the earlier) and "moody";
        // raw similarities, no min-max; "soft" is at the gate but third, "cat" below it.
        var top2 = importance.Compute(tokens, new WordScoringRule(0.6, WordSelection.TopK, 2));
        Assert.Equal(ImportanceBranch.TopK, top2.Branch);
        Assert.Equal([0f, 0.9f, 0f, 0f, 0f, 0.9f, 0f], top2.Importance);
        var top3 = importance.Compute(tokens, new WordScoringRule(0.6, WordSelection.TopK, 3));
        Assert.Equal([0f, 0.9f, 0.7f, 0f, 0f, 0.9f, 0f], top3.Importance);
        var top9 = importance.Compute(tokens, new WordScoringRule(0.6, WordSelection.TopK, 9));
        Assert.Equal([0f, 0.9f, 0.7f, 0.65f, 0f, 0.9f, 0f], top9.Importance); // only words at the gate, however large k
        // No word at the gate: the same fallback as the global gate.
        Assert.Equal(ImportanceBranch.BelowGate, importance.Compute(tokens, new WordScoringRule(0.95, WordSelection.TopK, 2)).Branch);
        Assert.Equal([0f, 1f, 1f, 1f, 1f, 1f, 0f], top2.ContentMask);
    }

    [Fact]
    public void Token_weighting_lays_out_anchor_uniform_and_non_aesthetic_weights()
    {
        var embedder = new TableEmbedder(new() { ["bright"] = 0.9f, ["moody"] = 0.7f, ["cat"] = 0.3f });
        var importance = new TokenImportance(embedder, PrescribedSimilarityEmbedder.Anchors);
        var tokens = new PromptTokens([null, "▁a", "▁bright", "▁moody", "▁cat", null, null], [1, 1, 1, 1, 1, 1, 0]);
        TokenImportanceResult scores = importance.Compute(tokens);
        TokenImportanceResult blank = TokenImportanceResult.Blank(3);

        float[] anchor = PromptWeights.TextKeys([scores, blank], TokenWeighting.Anchor);
        Assert.Equal([.. scores.Importance, 0f, 0f, 0f], anchor);
        Assert.Equal(Enumerable.Repeat(1f / 10, 10), PromptWeights.TextKeys([scores, blank], TokenWeighting.Uniform));
        // bright 1.0 and moody ≈ 0.67 are aesthetic (> 0.5): 0.02; "a" (a stop word) and cat: 1; specials, padding, blank: 0.
        Assert.Equal([0f, 1f, 0.02f, 0.02f, 1f, 0f, 0f, 0f, 0f, 0f], PromptWeights.TextKeys([scores, blank], TokenWeighting.NonAesthetic));
    }

    [Fact]
    public void Embedder_contract_is_checked()
    {
        var tokens = new PromptTokens([null, "▁lovely"], [1, 1]);
        var notUnit = new TokenImportance(new FixedEmbedder([0.5f, 0.5f, 0f]), PrescribedSimilarityEmbedder.Anchors);
        Assert.Contains("unit", Assert.Throws<AccelAesException>(() => notUnit.Compute(tokens)).Message);
        var wrongDim = new TokenImportance(new FixedEmbedder([1f, 0f]), PrescribedSimilarityEmbedder.Anchors);
        Assert.Contains("dimension", Assert.Throws<AccelAesException>(() => wrongDim.Compute(tokens)).Message);
    }

    [Fact]
    public void Anchor_table_is_computed_once_and_cached_on_disk_by_weights_key()
    {
        using var temp = new TempDirectory();
        var first = new FixedEmbedder([0.6f, 0.8f, 0f], "weights-A");
        AnchorTable a = AestheticAnchors.TableFor(first, temp.Path);
        Assert.Same(a, AestheticAnchors.TableFor(first, temp.Path));
        Assert.Equal(1, first.Calls);
        Assert.Equal((34, 3), (a.Count, a.Dimension));
        string file = Path.Combine(temp.Path, AestheticAnchors.CacheFileName("weights-A"));
        Assert.True(File.Exists(file));

        // A new embedder instance with the same weights reads the file instead of embedding.
        var second = new FixedEmbedder([0f, 1f, 0f], "weights-A");
        AnchorTable b = AestheticAnchors.TableFor(second, temp.Path);
        Assert.Equal(0, second.Calls);
        Assert.Equal(a.Data.ToArray(), b.Data.ToArray());

        // Other weights, another file; a damaged file is recomputed.
        Assert.NotEqual(AestheticAnchors.CacheFileName("weights-A"), AestheticAnchors.CacheFileName("weights-B"));
        File.WriteAllBytes(file, [1, 2, 3]);
        var third = new FixedEmbedder([0f, 0f, 1f], "weights-A");
        Assert.Equal(1f, AestheticAnchors.TableFor(third, temp.Path).Row(33)[2]);
        Assert.Equal(1, third.Calls);

        // No weights key: memory only.
        var anonymous = new FixedEmbedder([1f, 0f, 0f]);
        AestheticAnchors.TableFor(anonymous, temp.Path);
        Assert.Single(Directory.GetFiles(temp.Path));
    }

    [GoldenFact]
    public void Align_maps_a_real_gemma_tokenization_onto_its_input_ids()
    {
        var gemma = GemmaTokenizer.FromFolder(GoldenFiles.At("text_encoders", "tokenizers", "gemma"));
        string text = "a beautiful portrait of an old fisherman, highly detailed";
        var call = new TokenizerCall { Padding = PaddingStrategy.MaxLength, MaxLength = gemma.EncodeToIds(text).Length + 5, Truncation = true };
        TokenizedPrompt prompt = gemma.Encode(text, call);
        var specials = new HashSet<int> { gemma.BosTokenId!.Value, gemma.PadTokenId!.Value };
        var tokens = PromptTokens.Align(prompt, gemma, text, specials);
        Assert.Null(tokens.Texts[0]);
        Assert.Null(tokens.Texts[^1]);
        var words = WordGrouping.Group(tokens);
        Assert.Equal(["a", "beautiful", "portrait", "of", "an", "old", "fisherman,", "highly", "detailed"], words.Select(w => w.Text));
        Assert.Throws<AccelAesException>(() => PromptTokens.Align(prompt, gemma, "a different prompt", specials));
    }

    private sealed class TableEmbedder(Dictionary<string, float> sims) : IPhraseEmbedder
    {
        public int Calls { get; private set; }

        public List<string> Phrases { get; } = [];

        public float[][] EmbedPhrases(IReadOnlyList<string> phrases)
        {
            Calls++;
            Phrases.AddRange(phrases);
            return new PrescribedSimilarityEmbedder(sims).EmbedPhrases(phrases);
        }
    }

    private sealed class FixedEmbedder(float[] vector, string? key = null) : IPhraseEmbedder
    {
        public int Calls { get; private set; }

        public string? WeightsKey => key;

        public float[][] EmbedPhrases(IReadOnlyList<string> phrases)
        {
            Calls++;
            return phrases.Select(_ => (float[])vector.Clone()).ToArray();
        }
    }
}
