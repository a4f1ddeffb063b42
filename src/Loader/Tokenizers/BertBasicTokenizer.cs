using System.Globalization;
using System.Text;

namespace AccelAes.Loader.Tokenizers;

/// <summary>
/// transformers' <c>BasicTokenizer</c> for an uncased BERT (tokenization_bert.py, huggingface/transformers
/// 0232d90c2c9c6d7e800500937159733ba90195d6): drop NUL, U+FFFD and control characters and turn whitespace into spaces;
/// put spaces around CJK ideographs; split on Python whitespace; lower-case each word (Python's <c>str.lower</c>) and strip
/// its accents (NFD, then drop every Mn character); split each punctuation character off as its own word.
/// Newer transformers also NFC-normalise before the whitespace split, which changes nothing here since every word is
/// NFD-decomposed afterwards.
/// </summary>
/// <remarks>
/// Done here rather than by Microsoft.ML.Tokenizers' BERT normaliser because the engine runs with invariant
/// globalization, where .NET's <see cref="string.Normalize()"/> leaves non-ASCII text as it is, so accents would survive.
/// </remarks>
internal static class BertBasicTokenizer
{
    public static List<string> Tokenize(string text)
    {
        string cleaned = SpaceCjk(Clean(text));
        var words = new List<string>();
        foreach (string token in PythonText.Split(cleaned))
            words.AddRange(SplitOnPunctuation(StripAccents(PythonText.ToLower(token))));
        return words;
    }

    private static string Clean(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (int cp in PythonText.CodePoints(text))
        {
            if (cp == 0 || cp == 0xFFFD || IsControl(cp)) continue;
            if (IsWhitespace(cp)) sb.Append(' ');
            else PythonText.AppendCodePoint(sb, cp);
        }
        return sb.ToString();
    }

    private static string SpaceCjk(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (int cp in PythonText.CodePoints(text))
        {
            if (IsCjkIdeograph(cp))
            {
                sb.Append(' ');
                PythonText.AppendCodePoint(sb, cp);
                sb.Append(' ');
            }
            else PythonText.AppendCodePoint(sb, cp);
        }
        return sb.ToString();
    }

    private static string StripAccents(string word)
    {
        var sb = new StringBuilder(word.Length);
        foreach (int cp in PythonText.CodePoints(PythonText.Nfd(word)))
            if (PythonText.Category(cp) != UnicodeCategory.NonSpacingMark) PythonText.AppendCodePoint(sb, cp);
        return sb.ToString();
    }

    private static IEnumerable<string> SplitOnPunctuation(string word)
    {
        var current = new StringBuilder();
        foreach (int cp in PythonText.CodePoints(word))
        {
            if (IsPunctuation(cp))
            {
                if (current.Length > 0) yield return current.ToString();
                current.Clear();
                yield return char.ConvertFromUtf32(cp);
            }
            else PythonText.AppendCodePoint(current, cp);
        }
        if (current.Length > 0) yield return current.ToString();
    }

    // _is_control: tab, newline and carriage return count as whitespace; any other category C* is control.
    private static bool IsControl(int cp) => cp is not ('\t' or '\n' or '\r') && IsOtherCategory(PythonText.Category(cp));

    // _is_whitespace: the four ASCII ones and category Zs.
    private static bool IsWhitespace(int cp) => cp is ' ' or '\t' or '\n' or '\r' || PythonText.Category(cp) == UnicodeCategory.SpaceSeparator;

    // _is_punctuation: every non-alphanumeric ASCII symbol (BERT treats "$", "^", "`" and friends as punctuation), and category P*.
    private static bool IsPunctuation(int cp)
        => cp is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126
           || PythonText.Category(cp) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
               or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
               or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;

    private static bool IsOtherCategory(UnicodeCategory c)
        => c is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
            or UnicodeCategory.OtherNotAssigned;

    // _is_chinese_char: the CJK Unified Ideographs blocks and their extensions and compatibility blocks.
    private static bool IsCjkIdeograph(int cp)
        => cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}
