namespace AccelAes.Engine.Acceleration.AesMask;

/// <summary>
/// The reference's stop-word rule (<c>SemanticMaskBuilder.STOPWORDS</c>, 66 words — the set in the source has 66
/// entries although accelaes-reference-code.md §1.1 calls it "63" — and
/// <c>compute_token_importance</c> l.401–405): a word is a stop word iff, with the characters
/// <c>,.;:!?'"()[]{}</c> stripped from both ends, its lower-case form is one of the stop words or it has at most
/// one character. Stop words get no CLIP score (importance 0 unless no content word exists at all).
/// </summary>
public static class Stopwords
{
    /// <summary>The stop words, in the reference's order (66, as in the reference source).</summary>
    public static IReadOnlyList<string> Words { get; } =
    [
        "a", "an", "the", "of", "in", "on", "at", "to", "for", "with", "and", "or", "but", "is", "are", "was", "were",
        "be", "been", "as", "by", "from", "that", "this", "it", "its", "not", "no", "so", "if", "do", "does", "did",
        "has", "have", "had", "will", "would", "could", "should", "may", "might", "can", "shall", "than", "then",
        "there", "here", "where", "when", "how", "what", "which", "who", "whom", "whose", "into", "over", "under",
        "between", "through", "about", "up", "down", "out", "very",
    ];

    /// <summary>The characters stripped from both ends before the check (Python <c>str.strip(",.;:!?'\"()[]{}")</c>).</summary>
    public const string StrippedCharacters = ",.;:!?'\"()[]{}";

    private static readonly HashSet<string> Set = new(Words, StringComparer.Ordinal);
    private static readonly char[] Strip = StrippedCharacters.ToCharArray();

    /// <summary>The word with <see cref="StrippedCharacters"/> removed from both ends.</summary>
    public static string Stripped(string word) => word.Trim(Strip);

    /// <summary>
    /// True for a stop word. Length counts Unicode code points (Python <c>len</c>); lower-casing is invariant-culture
    /// (Python's <c>str.lower</c> differs only for a few characters no stop word contains).
    /// </summary>
    public static bool IsStopword(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        string s = Stripped(word);
        if (Set.Contains(s.ToLowerInvariant())) return true;
        int codePoints = 0;
        foreach (var _ in s.EnumerateRunes())
        {
            if (++codePoints > 1) return false;
        }

        return true;
    }
}
