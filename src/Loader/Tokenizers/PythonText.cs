using System.Globalization;
using System.Text;

namespace AccelAes.Loader.Tokenizers;

/// <summary>
/// The Python string operations transformers' slow tokenizers and the diffusers pipelines apply to a
/// prompt, reproduced on code points: <c>unicodedata.normalize("NFC")</c>, <c>str.lower()</c>,
/// <c>str.strip()</c> / <c>str.split()</c> and <c>str.isspace()</c>. Tables come from CPython 3.11's
/// unicodedata (Unicode 14.0, <see cref="PythonUnicodeData"/>); general categories come from .NET (newer
/// Unicode), which only differs for code points assigned after Unicode 14.0.
/// </summary>
internal static class PythonText
{
    private static readonly Dictionary<int, int> CombiningClass = BuildCombiningClass();
    private static readonly Dictionary<int, int[]> Decomposition = BuildMultiMap(PythonUnicodeData.Decompositions);
    private static readonly Dictionary<long, int> Composition = BuildComposition();
    private static readonly Dictionary<int, int[]> Lower = BuildMultiMap(PythonUnicodeData.LowerCase);

    // Hangul syllable arithmetic (Unicode §3.12).
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    /// <summary>The code points of a string; unpaired surrogates become U+FFFD.</summary>
    public static List<int> CodePoints(string text)
    {
        var cps = new List<int>(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                cps.Add(char.ConvertToUtf32(c, text[i + 1]));
                i++;
            }
            else
            {
                cps.Add(char.IsSurrogate(c) ? 0xFFFD : c);
            }
        }

        return cps;
    }

    public static string FromCodePoints(IEnumerable<int> cps)
    {
        var sb = new StringBuilder();
        foreach (int cp in cps) AppendCodePoint(sb, cp);
        return sb.ToString();
    }

    public static void AppendCodePoint(StringBuilder sb, int cp)
    {
        if (cp < 0x10000) sb.Append((char)cp);
        else sb.Append(char.ConvertFromUtf32(cp));
    }

    /// <summary>Replaces unpaired surrogates with U+FFFD (Python strings from UTF-8 cannot hold them).</summary>
    public static string ReplaceLoneSurrogates(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsSurrogate(text[i]))
            {
                return FromCodePoints(CodePoints(text));
            }
        }

        return text;
    }

    /// <summary>The code point at <paramref name="index"/>; an unpaired surrogate reads as U+FFFD.</summary>
    public static int CodePointAt(string s, int index, out int width)
    {
        char c = s[index];
        if (char.IsHighSurrogate(c) && index + 1 < s.Length && char.IsLowSurrogate(s[index + 1]))
        {
            width = 2;
            return char.ConvertToUtf32(c, s[index + 1]);
        }

        width = 1;
        return char.IsSurrogate(c) ? 0xFFFD : c;
    }

    public static UnicodeCategory Category(int cp) => CharUnicodeInfo.GetUnicodeCategory(cp);

    /// <summary><c>str.isspace()</c> for one code point.</summary>
    public static bool IsSpace(int cp) => InRanges(PythonUnicodeData.WhiteSpaceRanges, cp);

    /// <summary><c>str.strip()</c> with no argument.</summary>
    public static string Strip(string text) => RStrip(LStrip(text));

    /// <summary><c>str.lstrip()</c> with no argument.</summary>
    public static string LStrip(string text)
    {
        int i = 0;
        while (i < text.Length)
        {
            int cp = CodePointAt(text, i, out int width);
            if (!IsSpace(cp)) break;
            i += width;
        }

        return i == 0 ? text : text[i..];
    }

    /// <summary><c>str.rstrip()</c> with no argument.</summary>
    public static string RStrip(string text)
    {
        int end = text.Length;
        while (end > 0)
        {
            int start = end - 1;
            if (start > 0 && char.IsLowSurrogate(text[start]) && char.IsHighSurrogate(text[start - 1])) start--;
            int cp = CodePointAt(text, start, out _);
            if (!IsSpace(cp)) break;
            end = start;
        }

        return end == text.Length ? text : text[..end];
    }

    /// <summary><c>str.split()</c> with no argument: runs of whitespace separate, no empty parts.</summary>
    public static List<string> Split(string text)
    {
        var parts = new List<string>();
        int i = 0, start = -1;
        while (i < text.Length)
        {
            int cp = CodePointAt(text, i, out int width);
            if (IsSpace(cp))
            {
                if (start >= 0) parts.Add(text[start..i]);
                start = -1;
            }
            else if (start < 0)
            {
                start = i;
            }

            i += width;
        }

        if (start >= 0) parts.Add(text[start..]);
        return parts;
    }

    /// <summary>
    /// <c>str.lower()</c>: full lower-case mapping (U+0130 becomes two code points) and the Final_Sigma
    /// rule for U+03A3, which .NET's casing does not apply.
    /// </summary>
    public static string ToLower(string text)
    {
        bool ascii = true;
        foreach (char c in text)
        {
            if (c >= 0x80) { ascii = false; break; }
        }

        if (ascii) return text.ToLowerInvariant();

        List<int> cps = CodePoints(text);
        var sb = new StringBuilder(text.Length);
        for (int i = 0; i < cps.Count; i++)
        {
            int cp = cps[i];
            if (cp == 0x03A3)
            {
                AppendCodePoint(sb, IsFinalSigma(cps, i) ? 0x03C2 : 0x03C3);
            }
            else if (Lower.TryGetValue(cp, out int[]? mapped))
            {
                foreach (int m in mapped) AppendCodePoint(sb, m);
            }
            else
            {
                AppendCodePoint(sb, cp);
            }
        }

        return sb.ToString();
    }

    // CPython's rule: \p{cased} \p{case-ignorable}* SIGMA !( \p{case-ignorable}* \p{cased} ).
    private static bool IsFinalSigma(List<int> cps, int i)
    {
        int j = i - 1;
        while (j >= 0 && InRanges(PythonUnicodeData.CaseIgnorableRanges, cps[j])) j--;
        if (j < 0 || !InRanges(PythonUnicodeData.CasedRanges, cps[j])) return false;
        j = i + 1;
        while (j < cps.Count && InRanges(PythonUnicodeData.CaseIgnorableRanges, cps[j])) j++;
        return j == cps.Count || !InRanges(PythonUnicodeData.CasedRanges, cps[j]);
    }

    /// <summary><c>unicodedata.normalize("NFC", text)</c>.</summary>
    public static string Nfc(string text)
    {
        // Nothing below U+0300 decomposes or composes differently (no combining marks there).
        bool simple = true;
        foreach (char c in text)
        {
            if (c >= 0x300) { simple = false; break; }
        }

        if (simple) return text;

        List<int> d = DecomposeCanonically(text);

        // 3. Canonical composition.
        var r = new List<int>(d.Count);
        int starter = -1;
        foreach (int cp in d)
        {
            int cc = Ccc(cp);
            if (starter >= 0)
            {
                int lastCc = Ccc(r[^1]);
                bool blocked = r.Count - 1 != starter && (lastCc == 0 || lastCc >= cc);
                if (!blocked && TryCompose(r[starter], cp, out int composite))
                {
                    r[starter] = composite;
                    continue;
                }
            }

            if (cc == 0) starter = r.Count;
            r.Add(cp);
        }

        return FromCodePoints(r);
    }

    /// <summary><c>unicodedata.normalize("NFD", text)</c> (BERT's accent stripping decomposes, then drops the marks).</summary>
    public static string Nfd(string text)
    {
        bool ascii = true;
        foreach (char c in text)
        {
            if (c >= 0x80) { ascii = false; break; }
        }

        return ascii ? text : FromCodePoints(DecomposeCanonically(text));
    }

    /// <summary>Full canonical decomposition followed by canonical ordering: the first two steps of NFD and NFC.</summary>
    private static List<int> DecomposeCanonically(string text)
    {
        // 1. Full canonical decomposition.
        var d = new List<int>(text.Length + 8);
        foreach (int cp in CodePoints(text))
        {
            int s = cp - SBase;
            if (s >= 0 && s < SCount)
            {
                d.Add(LBase + s / NCount);
                d.Add(VBase + s % NCount / TCount);
                if (s % TCount != 0) d.Add(TBase + s % TCount);
            }
            else if (Decomposition.TryGetValue(cp, out int[]? parts))
            {
                d.AddRange(parts);
            }
            else
            {
                d.Add(cp);
            }
        }

        // 2. Canonical ordering: stable sort of each run of non-starters by combining class.
        for (int i = 1; i < d.Count; i++)
        {
            int cc = Ccc(d[i]);
            if (cc == 0) continue;
            int j = i;
            while (j > 0 && Ccc(d[j - 1]) > cc)
            {
                (d[j - 1], d[j]) = (d[j], d[j - 1]);
                j--;
            }
        }

        return d;
    }

    private static bool TryCompose(int first, int second, out int composite)
    {
        int l = first - LBase, v = second - VBase;
        if (l >= 0 && l < LCount && v >= 0 && v < VCount)
        {
            composite = SBase + (l * VCount + v) * TCount;
            return true;
        }

        int s = first - SBase, t = second - TBase;
        if (s >= 0 && s < SCount && s % TCount == 0 && t > 0 && t < TCount)
        {
            composite = first + t;
            return true;
        }

        return Composition.TryGetValue(((long)first << 21) | (uint)second, out composite);
    }

    private static int Ccc(int cp) => cp < 0x300 ? 0 : CombiningClass.GetValueOrDefault(cp);

    private static bool InRanges(int[] ranges, int cp)
    {
        // ranges = [first0, last0, first1, last1, ...], sorted.
        int lo = 0, hi = ranges.Length / 2 - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            if (cp < ranges[2 * mid]) hi = mid - 1;
            else if (cp > ranges[2 * mid + 1]) lo = mid + 1;
            else return true;
        }

        return false;
    }

    private static Dictionary<int, int> BuildCombiningClass()
    {
        var map = new Dictionary<int, int>();
        int[] r = PythonUnicodeData.CombiningClassRanges;
        for (int i = 0; i < r.Length; i += 3)
        {
            for (int cp = r[i]; cp <= r[i + 1]; cp++) map[cp] = r[i + 2];
        }

        return map;
    }

    private static Dictionary<int, int[]> BuildMultiMap(int[] data)
    {
        var map = new Dictionary<int, int[]>();
        for (int i = 0; i < data.Length;)
        {
            int key = data[i], n = data[i + 1];
            map[key] = data.AsSpan(i + 2, n).ToArray();
            i += 2 + n;
        }

        return map;
    }

    private static Dictionary<long, int> BuildComposition()
    {
        var map = new Dictionary<long, int>();
        int[] c = PythonUnicodeData.Compositions;
        for (int i = 0; i < c.Length; i += 3) map[((long)c[i] << 21) | (uint)c[i + 1]] = c[i + 2];
        return map;
    }
}
