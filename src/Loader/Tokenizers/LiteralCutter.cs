namespace AccelAes.Loader.Tokenizers;

/// <summary>
/// Cuts text at occurrences of a fixed set of literals, scanning left to right and taking the longest
/// literal that starts at each position: the cut of transformers' <c>Trie.split</c> (added tokens) and of
/// sentencepiece's <c>PrefixMatcher</c> (user-defined pieces).
/// </summary>
internal sealed class LiteralCutter
{
    private readonly Dictionary<char, string[]> _byFirstChar;

    public LiteralCutter(IEnumerable<string> literals)
    {
        // Longest first, so the first hit at a position is the longest.
        _byFirstChar = literals
            .Where(l => l.Length > 0)
            .Distinct(StringComparer.Ordinal)
            .GroupBy(l => l[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(l => l.Length).ToArray());
    }

    public bool IsEmpty => _byFirstChar.Count == 0;

    /// <summary>The pieces of <paramref name="text"/> in order, each a literal or a (non-empty) run between literals.</summary>
    public List<(string Text, bool IsLiteral)> Cut(string text)
    {
        var pieces = new List<(string, bool)>();
        int start = 0, i = 0;
        while (i < text.Length)
        {
            string? hit = LongestAt(text, i);
            if (hit is null)
            {
                i++;
                continue;
            }

            if (i > start) pieces.Add((text[start..i], false));
            pieces.Add((hit, true));
            i += hit.Length;
            start = i;
        }

        if (start < text.Length) pieces.Add((text[start..], false));
        return pieces;
    }

    private string? LongestAt(string text, int i)
    {
        if (!_byFirstChar.TryGetValue(text[i], out string[]? candidates)) return null;
        foreach (string c in candidates)
        {
            if (i + c.Length <= text.Length && string.CompareOrdinal(text, i, c, 0, c.Length) == 0) return c;
        }

        return null;
    }
}
