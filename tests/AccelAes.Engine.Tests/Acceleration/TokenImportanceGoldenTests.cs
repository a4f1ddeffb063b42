using System.Text.Json;
using AccelAes.Engine.Acceleration.AesMask;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>
/// Token importance against conformance/aesmask/token_importance, bitwise. As the goldens were made: a fake
/// embedder whose word vector is <c>[s, 0.5s − 0.2, t]</c> (unit length) against anchors e0 = [1,0,0], e1 = [0,1,0],
/// so each content word's max cosine is exactly its prescribed similarity s; token strings from cases.json.
/// </summary>
public class TokenImportanceGoldenTests
{
    public static TheoryData<string> Cases => AesMaskGoldens.CaseNames("token_importance");

    [GoldenTheory]
    [MemberData(nameof(Cases))]
    public void Importance_matches_the_reference_bitwise(string name)
    {
        string path = AesMaskGoldens.PathOf("token_importance", name);
        var g = GoldenTensors.Load(path);
        JsonElement meta = AesMaskGoldens.Meta("token_importance", name)
                           ?? throw new Xunit.Sdk.XunitException($"{name}: cases.json has no entry (the token strings live there).");

        int[] ids = Array.ConvertAll(g["input_ids"].Values, v => (int)v);
        int[] promptMask = Array.ConvertAll(g["prompt_mask"].Values, v => (int)v);
        JsonElement specialIds = meta.GetProperty("special_ids");
        var specials = new HashSet<int>(new[] { "bos", "eos", "pad" }
            .Where(k => specialIds.TryGetProperty(k, out var v) && v.ValueKind == JsonValueKind.Number)
            .Select(k => specialIds.GetProperty(k).GetInt32()));

        // The generation tokenizer's decode([id]): the token string each id has in this case.
        string?[] strings = meta.GetProperty("token_strings").EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Null ? null : e.GetString()).ToArray();
        Assert.Equal(ids.Length, strings.Length);
        var textOf = new Dictionary<int, string>();
        for (int p = 0; p < ids.Length; p++)
        {
            if (strings[p] is not string s) continue;
            Assert.True(!textOf.TryGetValue(ids[p], out string? known) || known == s, $"{name}: id {ids[p]} decodes to two strings");
            textOf[ids[p]] = s;
        }

        PromptTokens tokens = PromptTokens.FromIds(ids, promptMask, specials, id => textOf[id]);
        Assert.Equal(g["is_special_bos_eos_pad"].Values.Select(v => v != 0), tokens.Texts.Select(t => t is null));

        // Word grouping and stop words.
        var words = WordGrouping.Group(tokens);
        var wordOf = Enumerable.Repeat(-1, ids.Length).ToArray();
        for (int u = 0; u < words.Count; u++)
            foreach (int p in words[u].Positions) wordOf[p] = u;
        Assert.Equal(Array.ConvertAll(g["word_index_per_token"].Values, v => (int)v), wordOf);
        Assert.Equal(g["word_is_stopword"].Values.Select(v => v != 0), words.Select(x => Stopwords.IsStopword(x.Text)));
        if (meta.TryGetProperty("words", out JsonElement expectedWords))
            Assert.Equal(expectedWords.EnumerateArray().Select(e => e.GetString()), words.Select(x => x.Text));

        // The fake embedder: prescribed similarity per content word text.
        string[] contentWords = meta.GetProperty("content_words").EnumerateArray().Select(e => e.GetString()!).ToArray();
        float[] sims = g.TryGetValue("content_word_sims", out GoldenTensor? st) ? st.Values : [];
        Assert.Equal(contentWords.Length, sims.Length);
        var embedder = new PrescribedSimilarityEmbedder(contentWords.Zip(sims).ToDictionary(x => x.First, x => x.Second));
        var importance = new TokenImportance(embedder, PrescribedSimilarityEmbedder.Anchors);

        TokenImportanceResult result = importance.Compute(tokens);

        AesMaskGoldens.AssertBitwise(g["importance"].Values, result.Importance, $"{name} importance");
        AesMaskGoldens.AssertBitwise(sims, result.ContentSimilarities, $"{name} content-word similarities");
        if (meta.TryGetProperty("branch", out JsonElement branch))
        {
            string b = branch.GetString()!;
            var expected = b.StartsWith("normalised") ? ImportanceBranch.Normalised
                : b.StartsWith("fallback") ? ImportanceBranch.BelowGate
                : ImportanceBranch.NoContentWords;
            Assert.Equal(expected, result.Branch);
        }

        if (contentWords.Length == 0) Assert.Equal(0, embedder.Calls);
    }
}

/// <summary>
/// The goldens' fake CLIP: a word with prescribed similarity s embeds as <c>[s, 0.5s − 0.2, t]</c>, t making it unit
/// length; against anchors e0 = [1,0,0] and e1 = [0,1,0] the max cosine is exactly s (s &gt; −0.4).
/// </summary>
internal sealed class PrescribedSimilarityEmbedder(IReadOnlyDictionary<string, float> similarities) : IPhraseEmbedder
{
    public static AnchorTable Anchors { get; } = new([1f, 0f, 0f, 0f, 1f, 0f], 2, 3);

    public int Calls { get; private set; }

    public float[][] EmbedPhrases(IReadOnlyList<string> phrases)
    {
        Calls++;
        return phrases.Select(p =>
        {
            if (!similarities.TryGetValue(p, out float s)) throw new Xunit.Sdk.XunitException($"the importance code asked for an embedding of '{p}', which is not a content word of the case");
            float b = 0.5f * s - 0.2f;
            float t = (float)Math.Sqrt(Math.Max(0, 1 - (double)s * s - (double)b * b));
            return new[] { s, b, t };
        }).ToArray();
    }
}
