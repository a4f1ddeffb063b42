using System.Security.Cryptography;
using System.Text;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Loader.Tests.Tokenizers;

/// <summary>
/// The Python string operations the tokenizers reproduce, checked against values computed by CPython
/// 3.11.7 (unicodedata 14.0.0, the version the goldens were made with).
/// </summary>
public sealed class PythonTextTests
{
    // hashlib.sha256 over f(chr(cp)).encode('utf-8') + b'\0' for every code point except surrogates.
    private const string NfcOfEveryCodePoint = "6e0aaa17a82be5b6f410942f1f99ae77832fb630e98780c6eaf6779ab278235d";
    private const string LowerOfEveryCodePoint = "2a57bd2ee31776aecc042336da11b34e1b6f16cd8c587e9bcdf885218ef3a961";
    private const string NfcOfEveryCodePointThenAcute = "c11ff01b8052727e18ad06f0cee4a48f573a0d05e8d7d3ef56284c41048d771b";
    private const string NfcOfAThenEveryCodePointThenDotBelow = "d15a9b0f8c545ec91736dd8905f03924ca4cd7f08ea6182cf33b77641498d35c";

    private static string HashOverCodePoints(Func<string, string> f)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (int cp = 0; cp < 0x110000; cp++)
        {
            if (cp is >= 0xD800 and <= 0xDFFF) continue;
            sha.AppendData(Encoding.UTF8.GetBytes(f(char.ConvertFromUtf32(cp))));
            sha.AppendData([0]);
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    [Fact]
    public void Nfc_matches_cpython_for_every_code_point() =>
        Assert.Equal(NfcOfEveryCodePoint, HashOverCodePoints(PythonText.Nfc));

    [Fact]
    public void Nfc_matches_cpython_for_every_code_point_followed_by_a_combining_acute() =>
        Assert.Equal(NfcOfEveryCodePointThenAcute, HashOverCodePoints(s => PythonText.Nfc(s + "\u0301")));

    [Fact]
    public void Nfc_matches_cpython_for_every_code_point_between_a_starter_and_a_dot_below() =>
        Assert.Equal(NfcOfAThenEveryCodePointThenDotBelow, HashOverCodePoints(s => PythonText.Nfc("a" + s + "\u0323")));

    [Fact]
    public void Lower_matches_cpython_for_every_code_point() =>
        Assert.Equal(LowerOfEveryCodePoint, HashOverCodePoints(PythonText.ToLower));

    [Theory]
    [InlineData("ΣΑ", "σα")]
    [InlineData("ΑΣ.", "ας.")]
    [InlineData("Α\u0345Σ", "α\u0345ς")] // U+0345 is case-ignorable (and its own lower case)
    [InlineData("A'Σ", "a'ς")]
    [InlineData("ΑΣ\u0301Β", "ασ\u0301β")]
    [InlineData("1Σ", "1σ")]
    [InlineData("ΑΣΑ", "ασα")]
    [InlineData("ΑΣ\U0001D400", "ασ\U0001D400")]
    [InlineData("İ", "i\u0307")]
    public void Lower_applies_final_sigma_and_full_mappings(string text, string expected) =>
        Assert.Equal(expected, PythonText.ToLower(text));

    [Fact]
    public void Strip_and_split_use_python_whitespace()
    {
        // str.isspace() includes U+001C..U+001F and U+2028/9 but not U+200B.
        Assert.Equal("x", PythonText.Strip("  \u001c x \u2029"));
        Assert.Equal(["a", "b", "c\u200bd"], PythonText.Split("a\u001fb\u3000 c\u200bd "));
        Assert.Empty(PythonText.Split(" \t\n"));
    }

    // Inputs and " ".join(BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize(text)) as
    // CPython 3.11 computes it (an independent script written from transformers' algorithm).
    public static IEnumerable<object[]> CleanCases() =>
    [
        ["\u039f\u0394\u039f\u03a3 \u03a3\u039f\u03a6\u0399\u0391\u03a3 \u03a3", "\u03bf\u03b4\u03bf\u03c2 \u03c3\u03bf\u03c6\u03b9\u03b1\u03c2 \u03c3"],
        ["\u0130STANBUL \u01c4emal \u01c5", "i\u0307stanbul \u01c6emal \u01c6"],
        ["e\u0301cole n\u0303 A\u030a", "\u00e9cole \u00f1 \u00e5"],
        ["\u1100\u1161\u11a8 \u1100\u1161", "\uac01 \uac00"],
        ["a\u2028b\u2029c\u0085d\u000be\u000cf\u001cg", "a b cdefg"],
        ["zero\u200bwidth\u200djoiner\ufeffbom \U0001f469\u200d\U0001f467", "zerowidthjoinerbom \U0001f469\U0001f467"],
        ["fullwidth \uff21\uff22\uff23 \ufb01 ligature \u2460", "fullwidth \uff41\uff42\uff43 \ufb01 ligature \u2460"],
        ["\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 \u4e2d\u6587", "\u65e5 \u672c \u8a9e \u306e\u30c6\u30ad\u30b9\u30c8 \u4e2d \u6587"],
        ["\u00a0nbsp\u3000ideographic\u2003em ", "nbsp ideographic em"],
        ["tab\u0009and\u000d\u000anewlines\u0000null\ufffdrepl", "tab and newlinesnullrepl"],
        ["\U00020000\U0002a700x\U0002f800", "\U00020000 \U0002a700 x \u4e3d"],
        ["\ue000private \U000f0000use", "private use"],
        ["\u00c0\u00c9\u00ce\u00d5\u00dc \u1e9e \u00df", "\u00e0\u00e9\u00ee\u00f5\u00fc \u00df \u00df"],
        ["A\u0323\u0302 q\u0307\u0323", "\u1ead q\u0323\u0307"],
        ["\u0344 \u0958 \u2126 \u212b", "\u0308\u0301 \u0915\u093c \u03c9 \u00e5"],
    ];

    [Theory]
    [MemberData(nameof(CleanCases))]
    public void Clip_clean_up_matches_transformers_basic_tokenizer(string text, string expected) =>
        Assert.Equal(expected, ClipTokenizer.CleanText(text));

    [Fact]
    public void Clip_clean_up_turns_an_unpaired_surrogate_into_nothing() =>
        // Python would see U+FFFD (or a lone surrogate, category Cs): both are dropped.
        Assert.Equal("ab", ClipTokenizer.CleanText("a\ud800b"));
}
