namespace AccelAes.Loader.SafeTensors;

/// <summary>
/// Finds existing tensor names close to a missing one. Edit distance catches typos; the longest shared suffix
/// and prefix catch a wrong or missing prefix (<c>model.diffusion_model.</c> vs none), where the edit distance
/// is large but the rest of the name is identical.
/// </summary>
internal static class TensorNameSuggestions
{
    internal const int MaxSuggestions = 5;

    // Bounds on the quadratic edit distance, so that a hostile header with millions of long names cannot make
    // an error message take minutes: names are compared on their first characters only, and beyond the first
    // names (far more than any real checkpoint holds) only prefixes and suffixes are compared.
    private const int MaxComparedChars = 128;
    private const int MaxNamesForEditDistance = 20_000;

    internal static IReadOnlyList<string> Closest(string wanted, IEnumerable<string> existing)
    {
        var scored = existing
            .Select((name, index) => new Scored(name,
                index < MaxNamesForEditDistance ? EditDistance(wanted, name) : int.MaxValue / 2,
                CommonSuffix(wanted, name), CommonPrefix(wanted, name)))
            .ToList();
        if (scored.Count == 0)
            return [];

        var picked = new List<Scored>(MaxSuggestions);
        // A shared suffix or prefix only counts when it covers at least half the wanted name: every weight
        // shares ".weight" with every other.
        var threshold = Math.Max(1, (wanted.Length + 1) / 2);
        AddBest(scored.Where(s => s.Suffix >= threshold).OrderByDescending(s => s.Suffix).ThenBy(s => s.Distance));
        AddBest(scored.Where(s => s.Prefix >= threshold).OrderByDescending(s => s.Prefix).ThenBy(s => s.Distance));
        foreach (var candidate in scored.OrderBy(s => s.Distance).ThenBy(s => s.Name, StringComparer.Ordinal))
        {
            if (picked.Count == MaxSuggestions) break;
            if (!picked.Contains(candidate)) picked.Add(candidate);
        }
        return picked
            .OrderBy(s => s.Distance - Math.Max(s.Suffix, s.Prefix) / 2)
            .ThenBy(s => s.Name, StringComparer.Ordinal)
            .Select(s => s.Name)
            .ToArray();

        void AddBest(IEnumerable<Scored> ranked)
        {
            var best = ranked.FirstOrDefault();
            if (best is not null && !picked.Contains(best)) picked.Add(best);
        }
    }

    private sealed record Scored(string Name, int Distance, int Suffix, int Prefix);

    internal static int EditDistance(string a, string b)
    {
        var s = a.AsSpan(0, Math.Min(a.Length, MaxComparedChars));
        var t = b.AsSpan(0, Math.Min(b.Length, MaxComparedChars));
        Span<int> previous = stackalloc int[t.Length + 1];
        Span<int> current = stackalloc int[t.Length + 1];
        for (var j = 0; j <= t.Length; j++) previous[j] = j;
        for (var i = 1; i <= s.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= t.Length; j++)
            {
                var substitution = previous[j - 1] + (s[i - 1] == t[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j], current[j - 1]) + 1);
            }
            current.CopyTo(previous);
        }
        return previous[t.Length];
    }

    private static int CommonSuffix(string a, string b)
    {
        var n = 0;
        while (n < a.Length && n < b.Length && a[a.Length - 1 - n] == b[b.Length - 1 - n]) n++;
        return n;
    }

    private static int CommonPrefix(string a, string b) => a.AsSpan().CommonPrefixLength(b);
}
