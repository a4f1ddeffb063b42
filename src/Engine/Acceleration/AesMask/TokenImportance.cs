namespace AccelAes.Engine.Acceleration.AesMask;

/// <summary>Which rule produced a token-importance vector.</summary>
public enum ImportanceBranch
{
    /// <summary>Some word reached the gate: importance = word similarity, min-max normalised over the positive positions.</summary>
    Normalised,

    /// <summary>No content word reached the gate: 1.0 on every token of every content word.</summary>
    BelowGate,

    /// <summary>No content word at all: the content mask (attention mask with bos/eos/pad zeroed), stop words included.</summary>
    NoContentWords,

    /// <summary>
    /// The paper's Eq. 5 (<see cref="WordSelection.TopK"/>): the k most anchor-like content words at or above the gate
    /// keep their similarity as weight, every other position weighs 0.
    /// </summary>
    TopK,
}

/// <summary>How words are selected and weighted from their anchor similarities (knobs <c>gate</c>, <c>words</c>, <c>top_k</c>).</summary>
/// <param name="Gate">The similarity gate: global (the best word must reach it) or, for top-k, per word.</param>
/// <param name="Selection">The reference's global gate with min-max weights, or the paper's top-k.</param>
/// <param name="TopK">k of top-k.</param>
public sealed record WordScoringRule(double Gate, WordSelection Selection, int TopK)
{
    /// <summary>The reference code's rule: global gate 0.60, min-max weights.</summary>
    public static WordScoringRule Reference { get; } = new(TokenImportance.DefaultConfidenceGate, WordSelection.GlobalGate, 5);

    /// <summary>The rule a run's options set.</summary>
    public static WordScoringRule Of(AccelerationOptions options) => new(options.ConfidenceGate, options.WordSelection, options.TopK);
}

/// <summary>A token-importance vector and how it was obtained.</summary>
/// <param name="Importance">Per encoder position (float32), the text-key weights of the heat map.</param>
/// <param name="Words">The grouped words.</param>
/// <param name="WordIsStopword">Per word.</param>
/// <param name="ContentSimilarities">Per content word (non-stop words, in order): max cosine over the anchors.</param>
/// <param name="BestSimilarity">The maximum of <paramref name="ContentSimilarities"/>; null without content words.</param>
/// <param name="Branch">Which rule applied.</param>
/// <param name="ContentMask">Per encoder position: 1 for a prompt token (attention mask set, not bos/eos/pad), else 0.</param>
public sealed record TokenImportanceResult(
    float[] Importance,
    IReadOnlyList<PromptWord> Words,
    bool[] WordIsStopword,
    float[] ContentSimilarities,
    float? BestSimilarity,
    ImportanceBranch Branch,
    float[] ContentMask)
{
    /// <summary>
    /// Text key columns no prompt token fills (SD3's T5 columns when the pipeline has no T5: zeros that carry no
    /// meaning): importance 0, no words.
    /// </summary>
    public static TokenImportanceResult Blank(int columns) =>
        new(new float[columns], [], [], [], null, ImportanceBranch.NoContentWords, new float[columns]);
}

/// <summary>
/// AesMask's per-token aesthetic importance: the reference's <c>SemanticMaskBuilder.compute_token_importance</c>
/// (accelaes-reference-code.md §1.3), on the tokens the generation encoder actually sees (DESIGN §5).
/// </summary>
/// <remarks>
/// <list type="number">
/// <item>Group the encoder's tokens into words (<see cref="WordGrouping"/>); content mask = attention mask with
/// bos/eos/pad positions zeroed. No words → the content mask.</item>
/// <item>Stop words (<see cref="Stopwords"/>) are dropped; no content word left → the content mask (which puts
/// weight 1 on the stop words and punctuation — the reference's behaviour, kept).</item>
/// <item>Each content word, unstripped, is embedded by the <see cref="IPhraseEmbedder"/>; its similarity is the
/// maximum cosine over the 34 anchors.</item>
/// <item>Global gate: if the float32 maximum, as a double, is below the gate (0.60) → 1.0 on all content-word
/// tokens. Else each content word's tokens get its similarity, then the positions with importance &gt; 0 are
/// min-max normalised in float32, <c>(x − min) / (max − min + 1e-8)</c>, when max &gt; min. The least anchor-like
/// content word gets exactly 0; words with a non-positive similarity keep it.</item>
/// <item>Or, with <see cref="WordSelection.TopK"/> (the paper's Eq. 5, which the reference code does not implement):
/// the same fallback when no word reaches the gate; else only the k most similar content words at or above the
/// gate keep weight, their raw similarity.</item>
/// </list>
/// Bitwise equal to the reference given the same similarities (conformance/aesmask/token_importance).
/// </remarks>
public sealed class TokenImportance
{
    /// <summary>The reference's <c>CONFIDENCE_THRESHOLD</c>.</summary>
    public const double DefaultConfidenceGate = 0.60;

    private readonly IPhraseEmbedder _embedder;
    private readonly AnchorTable _anchors;

    /// <param name="confidenceGate">The gate of the default rule (<see cref="Compute(PromptTokens)"/>); a run passes its own rule.</param>
    public TokenImportance(IPhraseEmbedder embedder, AnchorTable anchors, double confidenceGate = DefaultConfidenceGate)
    {
        _embedder = embedder ?? throw new ArgumentNullException(nameof(embedder));
        _anchors = anchors ?? throw new ArgumentNullException(nameof(anchors));
        DefaultRule = WordScoringRule.Reference with { Gate = confidenceGate };
    }

    /// <summary>With the embedder's cached <see cref="AestheticAnchors"/> table.</summary>
    public TokenImportance(IPhraseEmbedder embedder, double confidenceGate = DefaultConfidenceGate, string? anchorCacheDirectory = null)
        : this(embedder, AestheticAnchors.TableFor(embedder, anchorCacheDirectory), confidenceGate)
    {
    }

    /// <summary>The rule <see cref="Compute(PromptTokens)"/> applies: the reference's, with the constructor's gate.</summary>
    public WordScoringRule DefaultRule { get; }

    /// <summary>The importance of every position of <paramref name="tokens"/> under <see cref="DefaultRule"/>.</summary>
    public TokenImportanceResult Compute(PromptTokens tokens) => Compute(tokens, DefaultRule);

    /// <summary>The importance of every position of <paramref name="tokens"/> under <paramref name="rule"/>.</summary>
    public TokenImportanceResult Compute(PromptTokens tokens, WordScoringRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentNullException.ThrowIfNull(tokens);
        int n = tokens.Count;
        var contentMask = new float[n];
        for (int p = 0; p < n; p++) contentMask[p] = tokens.AttentionMask[p] != 0 && tokens.Texts[p] is not null ? 1f : 0f;

        IReadOnlyList<PromptWord> words = WordGrouping.Group(tokens);
        bool[] stop = words.Select(w => Stopwords.IsStopword(w.Text)).ToArray();
        int[] content = Enumerable.Range(0, words.Count).Where(i => !stop[i]).ToArray();
        if (content.Length == 0)
            return new TokenImportanceResult(contentMask, words, stop, [], null, ImportanceBranch.NoContentWords, (float[])contentMask.Clone());

        // One embedding per distinct word text.
        string[] distinct = content.Select(i => words[i].Text).Distinct(StringComparer.Ordinal).ToArray();
        float[][] embeddings = PhraseEmbeddings.Checked(_embedder, distinct);
        var simByText = new Dictionary<string, float>(StringComparer.Ordinal);
        for (int i = 0; i < distinct.Length; i++) simByText[distinct[i]] = _anchors.MaxCosine(embeddings[i]);
        float[] sims = content.Select(i => simByText[words[i].Text]).ToArray();
        return Apply(n, words, stop, content, sims, rule) with { ContentMask = contentMask };
    }

    /// <summary>
    /// Steps after the similarities (gate, mapping to positions, min-max), given the content words' similarities
    /// in content-word order. The part the goldens pin bit for bit.
    /// </summary>
    public TokenImportanceResult Apply(int sequenceLength, IReadOnlyList<PromptWord> words, bool[] wordIsStopword, int[] contentWords, float[] similarities)
        => Apply(sequenceLength, words, wordIsStopword, contentWords, similarities, DefaultRule);

    /// <summary><see cref="Apply(int, IReadOnlyList{PromptWord}, bool[], int[], float[])"/> under <paramref name="rule"/>.</summary>
    public TokenImportanceResult Apply(int sequenceLength, IReadOnlyList<PromptWord> words, bool[] wordIsStopword, int[] contentWords, float[] similarities,
        WordScoringRule rule)
    {
        if (contentWords.Length != similarities.Length)
            throw new ArgumentException($"{contentWords.Length} content words but {similarities.Length} similarities.");
        float best = similarities.Max();
        var importance = new float[sequenceLength];
        // Positions of the words only; Compute replaces it with the tokens' own content mask.
        var wordMask = new float[sequenceLength];
        foreach (PromptWord w in words)
            foreach (int p in w.Positions) wordMask[p] = 1f;
        ImportanceBranch branch;
        if ((double)best < rule.Gate)
        {
            branch = ImportanceBranch.BelowGate;
            foreach (int u in contentWords)
                foreach (int p in words[u].Positions) importance[p] = 1f;
        }
        else if (rule.Selection == WordSelection.TopK)
        {
            // Eq. 5: the k most anchor-like content words at or above the gate, by similarity (ties: the earlier word).
            branch = ImportanceBranch.TopK;
            int[] chosen = Enumerable.Range(0, contentWords.Length)
                .Where(c => (double)similarities[c] >= rule.Gate)
                .OrderByDescending(c => similarities[c]).ThenBy(c => c)
                .Take(rule.TopK).ToArray();
            foreach (int c in chosen)
                foreach (int p in words[contentWords[c]].Positions) importance[p] = similarities[c];
        }
        else
        {
            branch = ImportanceBranch.Normalised;
            for (int c = 0; c < contentWords.Length; c++)
                foreach (int p in words[contentWords[c]].Positions) importance[p] = similarities[c];

            float min = float.PositiveInfinity, max = float.NegativeInfinity;
            foreach (float v in importance)
            {
                if (v > 0)
                {
                    min = Math.Min(min, v);
                    max = Math.Max(max, v);
                }
            }

            if (max > min)
            {
                float range = (max - min) + 1e-8f;
                for (int p = 0; p < importance.Length; p++)
                    if (importance[p] > 0) importance[p] = (importance[p] - min) / range;
            }
        }

        return new TokenImportanceResult(importance, words, wordIsStopword, similarities, best, branch, wordMask);
    }
}
