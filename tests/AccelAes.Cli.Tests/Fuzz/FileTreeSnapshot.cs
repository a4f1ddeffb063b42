using System.Diagnostics;
using System.Security.Cryptography;

namespace AccelAes.Cli.Tests.Fuzz;

/// <summary>
/// What a folder tree holds: for every entry its type, size, SHA-256 (regular files) and link target (symlinks).
/// Entries are listed with GNU find, which reports FIFOs, sockets and symlinks as what they are without opening
/// or following them — opening a FIFO to hash it would block the test itself.
/// </summary>
internal sealed class FileTreeSnapshot
{
    /// <summary>One entry. Type is find's %y letter: f regular file, d directory, l symlink, p FIFO, s socket, c/b devices.</summary>
    internal sealed record Entry(char Type, long Size, string? Sha256, string? LinkTarget)
    {
        public override string ToString() => Type switch
        {
            'f' => $"file of {Size} bytes (sha256 {Sha256![..12]}…)",
            'd' => "directory",
            'l' => $"symlink → {LinkTarget}",
            'p' => "FIFO",
            _ => $"special file ({Type})",
        };
    }

    private FileTreeSnapshot(string root, IReadOnlyDictionary<string, Entry> entries)
    {
        Root = root;
        Entries = entries;
    }

    public string Root { get; }

    /// <summary>Entries by absolute path (the root itself excluded).</summary>
    public IReadOnlyDictionary<string, Entry> Entries { get; }

    public static FileTreeSnapshot Take(string root)
    {
        var psi = new ProcessStartInfo("find") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // find expands \t and \0 itself (a NUL cannot travel in an argument).
        foreach (string a in new[] { root, "-mindepth", "1", "-printf", @"%y\t%s\t%l\t%p\0" }) psi.ArgumentList.Add(a);
        using var find = Process.Start(psi)!;
        var stderr = find.StandardError.ReadToEndAsync();
        string listing = find.StandardOutput.ReadToEnd();
        find.WaitForExit();
        if (find.ExitCode != 0) throw new InvalidOperationException($"find {root} failed: {stderr.Result}");

        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        foreach (string line in listing.Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] fields = line.Split('\t', 4); // the path is last: it may itself hold tabs
            char type = fields[0][0];
            long size = type == 'd' ? 0 : long.Parse(fields[1]); // a folder's own size follows its entries, which are compared themselves
            string path = fields[3];
            entries[path] = new Entry(type, size, type == 'f' ? Hash(path) : null, type == 'l' ? fields[2] : null);
        }
        return new FileTreeSnapshot(root, entries);
    }

    private static string Hash(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>One difference between two snapshots: Before or After is null for an entry that appeared or vanished.</summary>
    internal sealed record Change(string Path, Entry? Before, Entry? After)
    {
        public override string ToString() => (Before, After) switch
        {
            (null, _) => $"{Path} appeared ({After})",
            (_, null) => $"{Path} vanished (was {Before})",
            _ => $"{Path} changed: {Before} → {After}",
        };
    }

    public IEnumerable<Change> ChangesTo(FileTreeSnapshot after)
    {
        foreach (var (path, before) in Entries)
        {
            after.Entries.TryGetValue(path, out var now);
            if (now != before) yield return new Change(path, before, now);
        }
        foreach (var (path, now) in after.Entries)
            if (!Entries.ContainsKey(path)) yield return new Change(path, null, now);
    }
}
