using System.Text.RegularExpressions;

namespace AccelAes.Kernels.Compilation;

/// <summary>One kernel entry point: its symbol, the file that defines it, the op family (the file's stem).</summary>
public sealed record KernelEntry(string Name, string SourceFile, string Family);

/// <summary>
/// Every kernel entry point, read from the embedded sources. Entry points are written out literally as
/// <c>extern "C" __global__ void name(</c> (common.cuh states the rule), so reading them from the text is
/// exact and needs no second list to keep in step; the NVRTC compile test checks the result against the
/// <c>.entry</c> symbols NVRTC actually emits, which would catch an entry hidden behind a macro.
/// </summary>
public static partial class KernelCatalog
{
    private static readonly Lazy<IReadOnlyList<KernelEntry>> s_all = new(() => KernelSources.Files.SelectMany(EntriesOf).ToArray());

    public static IReadOnlyList<KernelEntry> All => s_all.Value;

    /// <summary>The entry named <paramref name="name"/> or null.</summary>
    public static KernelEntry? Find(string name) => All.FirstOrDefault(k => k.Name == name);

    /// <summary>The entry points defined in one source file (comments ignored).</summary>
    public static IReadOnlyList<KernelEntry> EntriesOf(KernelSource source) =>
        EntryPattern().Matches(StripComments(source.Text))
            .Select(m => new KernelEntry(m.Groups["name"].Value, source.FileName, source.Family))
            .ToArray();

    /// <summary>The <c>.entry</c> symbols of a PTX text (what the driver can launch).</summary>
    public static IReadOnlyList<string> PtxEntries(string ptx) =>
        PtxEntryPattern().Matches(ptx).Select(m => m.Groups["name"].Value).ToArray();

    internal static string StripComments(string text) =>
        CommentPattern().Replace(text, m => m.Value.StartsWith("/*", StringComparison.Ordinal)
            ? new string('\n', m.Value.Count(c => c == '\n'))
            : "");

    [GeneratedRegex(@"extern\s+""C""\s+__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?void\s+(?<name>[A-Za-z_]\w*)\s*\(")]
    private static partial Regex EntryPattern();

    [GeneratedRegex(@"\.entry\s+(?<name>[A-Za-z_$][\w$]*)")]
    private static partial Regex PtxEntryPattern();

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex CommentPattern();
}
