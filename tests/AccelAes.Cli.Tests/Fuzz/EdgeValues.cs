namespace AccelAes.Cli.Tests.Fuzz;

/// <summary>
/// Hostile and careless values for each kind of option: what a script with an unset variable, a typo, a paste from
/// a web page or a deliberate attack puts on a command line. Paths are in <see cref="CaseWorkspace"/>: they must
/// point into the case's own folder.
/// </summary>
internal static class EdgeValues
{
    public static readonly string[] Integers =
    [
        "0", "-1", "2147483647", "2147483648", "-2147483648", "4294967296", "99999999999999999999", "1e30", "1e3",
        "NaN", "Infinity", "-Infinity", "", " ", "abc", "1.5", "0x10", "+3", "1_000", "٣", "１２", new string('9', 400),
    ];

    public static readonly string[] Floats =
    [
        "0", "-0", "-1", "1e30", "-1e30", "3.5e38", "1e39", "1e-45", "NaN", "nan", "-NaN", "Infinity", "-Infinity",
        "∞", "", " ", "abc", "1,5", "0x1p3", "7e", "1e400", new string('9', 400),
    ];

    /// <summary>Free text (prompts): empty, blank, huge, every script, Spectre markup and ANSI escapes, option look-alikes.</summary>
    public static readonly string[] Texts =
    [
        "", " ", "\t", "a\nb\r\nc", new string('a', 100_000), string.Concat(Enumerable.Repeat("猫 ", 10_000)),
        "🐱🐶 👩‍👩‍👧 🏳️‍🌈", "\u200b\u200e\u202e gnp.exe", "e\u0301 \u0130 ß ǅ", "مرحبا بالعالم", "[red]x[/]", "[/]", "[",
        "[[]]", "{0} {1:N} %s %n", "\u001b[31mred\u001b[0m\u0007", "--help", "-", "../x", "\\", "' OR 1=1 --",
        "\uFEFFbom", "\u0085\u2028\u2029", string.Concat(Enumerable.Repeat("<|endoftext|>", 500)),
        string.Concat(Enumerable.Repeat("a ", 30_000)), "\u00a0\u3000",
    ];

    /// <summary>Names of things (variant, component, architecture, knob values): empty, traversal, absolute, odd.</summary>
    public static readonly string[] Names =
    [
        "", " ", "../x", "../../etc", "/abs", "a/b", ".", "..", "x\ty", "unknown", "BF16", " bf16", "bf16 ",
        new string('n', 5000), "猫", "[red]", "*", "?", "-", "--evil",
    ];

    public static readonly string[] KnobValues =
    [
        "1e30", "-1e30", "NaN", "Infinity", "-1", "0", "2147483647", "2147483648", "", " ", "abc", "on", "off", "auto",
        "every:0", "every:-1", "every:2147483647", "0,1,99999", "-1,0", ",", "1e-45", "[red]",
    ];
}
