using System.Text.RegularExpressions;

namespace AccelAes.Cli.Tests.Fuzz;

/// <summary>
/// Judges one finished run: the exit code is one of the documented ones (never 70, never a signal), no stack trace
/// was printed, the run finished in time, and nothing changed on disk except the run's declared outputs — which
/// themselves may only be new paths or regular files that are no input of the run (folder outputs: new or empty
/// folders). Leftover temporary names (<c>x.tmp-…</c>) are not counted: they are the writers' business.
/// </summary>
internal static partial class FuzzVerdict
{
    /// <summary>The documented exit codes (tools/AccelAes.Cli/ExitCodes.cs), 70 excluded.</summary>
    private static readonly int[] AllowedExitCodes = [0, 1, 2, 3, 4];

    [GeneratedRegex(@"^\s+at (System|AccelAes|Microsoft|Spectre)\.[\w.`<>|]+[.(]", RegexOptions.Multiline)]
    private static partial Regex StackTraceLine();

    [GeneratedRegex(@"\.tmp-[0-9a-f]{8,}$|\.[0-9a-f]{32}\.tmp$|\.\d+\.tmp$")]
    private static partial Regex TemporaryName();

    /// <summary>Everything wrong with the run; empty when it passed.</summary>
    public static List<string> Problems(FuzzCase c, CliRunner.Result r, TimeSpan limit, FileTreeSnapshot before, FileTreeSnapshot after)
    {
        var problems = new List<string>();
        if (r.TimedOut) problems.Add($"did not finish in {limit.TotalSeconds:0} s (killed)");
        else if (r.ExitCode == 70) problems.Add("exit 70 (internal error): " + FirstErrorLine(r));
        else if (r.ExitCode >= 128) problems.Add($"killed by signal {r.ExitCode - 128} (exit {r.ExitCode}): " + FirstErrorLine(r));
        else if (!AllowedExitCodes.Contains(r.ExitCode)) problems.Add($"undocumented exit code {r.ExitCode}: " + FirstErrorLine(r));
        else if (StackTraceLine().IsMatch(r.All)) problems.Add($"exit {r.ExitCode} with a stack trace: " + FirstErrorLine(r));

        var unexpected = UnexpectedChanges(c, before, after).ToList();
        if (unexpected.Count > 0)
            problems.Add($"modified what it should not ({unexpected.Count}): " + string.Join("; ", unexpected.Take(3)) + (unexpected.Count > 3 ? "; …" : ""));
        return problems;
    }

    /// <summary>
    /// The message that says what went wrong: the exception line after "internal error", else the first error line,
    /// with the lines the console wrapped it onto.
    /// </summary>
    public static string FirstErrorLine(CliRunner.Result r)
    {
        var lines = r.All.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        int at = lines.FindIndex(l => l.Contains("internal error", StringComparison.Ordinal));
        at = at >= 0 ? lines.FindIndex(at + 1, l => l.Trim().Length > 0)
            : lines.FindIndex(l => l.Contains("error", StringComparison.OrdinalIgnoreCase) || l.Contains("Exception", StringComparison.Ordinal));
        if (at < 0) return Shorten(lines.LastOrDefault(l => l.Trim().Length > 0)?.Trim() ?? "(no output)");
        var message = lines.Skip(at).TakeWhile((l, i) => i == 0 || (l.Trim().Length > 0 && !l.TrimStart().StartsWith("at ", StringComparison.Ordinal)
            && !"│╭╰┌└✓!⚠".Contains(l.TrimStart()[0]) && !l.StartsWith("Run ", StringComparison.Ordinal))).Take(5);
        return Shorten(string.Join(" ", message.Select(l => l.Trim())));
    }

    private static string Shorten(string line) => line.Length <= 300 ? line : line[..300] + "…";

    private static IEnumerable<FileTreeSnapshot.Change> UnexpectedChanges(FuzzCase c, FileTreeSnapshot before, FileTreeSnapshot after)
    {
        var inputs = Resolve(c, c.Inputs).ToList();
        bool IsInput(string path) => inputs.Any(i => path == i || path.StartsWith(i + "/", StringComparison.Ordinal) || i.StartsWith(path + "/", StringComparison.Ordinal));
        bool Holds(string folder) => before.Entries.Keys.Any(k => k.StartsWith(folder + "/", StringComparison.Ordinal));
        // The snapshot's root (the case folder, which ".." names) and its ancestors are not among its entries, but exist.
        char? TypeBefore(string path) => before.Entries.TryGetValue(path, out var e) ? e.Type
            : path == before.Root || before.Root.StartsWith(path + "/", StringComparison.Ordinal) || path == "/" ? 'd' : null;

        // A file output may be written when it is new or a regular file, and no input; a folder output when new or empty.
        var fileOutputs = Resolve(c, c.FileOutputs)
            .Where(o => !IsInput(o) && TypeBefore(o) is null or 'f').ToHashSet();
        var folderOutputs = Resolve(c, c.FolderOutputs)
            .Where(o => !IsInput(o) && (TypeBefore(o) is null || (TypeBefore(o) == 'd' && !Holds(o) && o != before.Root))).ToList();
        var declared = Resolve(c, c.FileOutputs).Concat(Resolve(c, c.FolderOutputs)).ToList();

        foreach (var change in before.ChangesTo(after))
        {
            string p = change.Path;
            if (TemporaryName().IsMatch(p)) continue;
            if (fileOutputs.Contains(p) && change.After is { Type: 'f' }) continue; // written or replaced; never deleted

            if (folderOutputs.Any(f => p == f || p.StartsWith(f + "/", StringComparison.Ordinal))) continue;
            // Folders created on the way to a declared output.
            if (change is { Before: null, After.Type: 'd' } && declared.Any(o => o.StartsWith(p + "/", StringComparison.Ordinal))) continue;
            yield return change;
        }
    }

    private static IEnumerable<string> Resolve(FuzzCase c, IEnumerable<string> paths)
    {
        foreach (string p in paths)
        {
            string full;
            try { full = Path.GetFullPath(p, c.WorkingDirectory); }
            catch (ArgumentException) { continue; } // "": names nothing
            yield return Path.TrimEndingDirectorySeparator(full);
        }
    }
}
