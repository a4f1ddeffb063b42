using AccelAes.Loader.Validation;

namespace AccelAes.Loader.Files;

/// <summary>
/// The files one run reads and writes, checked together once before anything is loaded or computed: every output
/// passes <see cref="OutputFile.Check"/>, no two outputs are the same file (<c>--save-mask X --out X</c>), and no
/// output is an input — an input file itself, or an existing file inside an input folder such as the model —
/// compared after following symbolic links and <c>..</c>, and on Linux by (device, inode), which also sees hard links.
/// A command fills one in from its options and calls <see cref="Check"/> first thing.
/// </summary>
public sealed class RunFiles
{
    private readonly List<(string Path, string What)> _inputs = [];
    private readonly List<(string Path, string What)> _outputs = [];

    /// <summary>How paths compare: case matters on Linux, not on the file systems macOS and Windows use by default.</summary>
    private static StringComparison PathComparison => OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;

    /// <summary>A file or folder the run reads, named as the user gave it (<paramref name="what"/>: the option, e.g. <c>--model</c>). Null is skipped.</summary>
    public RunFiles Input(string? path, string what)
    {
        if (!string.IsNullOrEmpty(path)) _inputs.Add((path, what));
        return this;
    }

    /// <summary>A file the run writes (<paramref name="what"/>: the option, e.g. <c>--out</c>). Null is skipped; an empty string is an error at <see cref="Check"/>.</summary>
    public RunFiles Output(string? path, string what)
    {
        if (path is not null) _outputs.Add((path, what));
        return this;
    }

    /// <exception cref="AccelAesException">An output that cannot be written, two outputs naming one file, or an output that is an input.</exception>
    public void Check()
    {
        var targets = new List<(string Path, string What, string Target, PathStatus? Status)>();
        foreach (var (path, what) in _outputs)
        {
            string target = OutputFile.Check(path, what);
            PathStatus? status = OutputPath.StatusOf(target, what, path);
            foreach (var other in targets)
                if (string.Equals(other.Target, target, PathComparison) || status is { } s && other.Status is { } o && s.SameFileAs(o))
                    throw new AccelAesException($"{other.What} and {what} both name '{target}': one would overwrite the other. Give them different paths.");
            targets.Add((path, what, target, status));
        }
        foreach (var output in targets)
        {
            if (output.Status is not { } written) continue; // a file that does not exist yet cannot be an input
            foreach (var (path, what) in _inputs)
                CheckNotInput(output.Path, output.What, output.Target, written, path, what);
        }
    }

    private static void CheckNotInput(string outPath, string outWhat, string target, PathStatus written, string inPath, string inWhat)
    {
        string? input = Existing(inPath, inWhat, out PathStatus? status);
        if (input is null || status is null) return;
        if (!status.Value.IsDirectory)
        {
            if (string.Equals(input, target, PathComparison) || written.SameFileAs(status.Value))
                throw new AccelAesException($"{outWhat} '{outPath}' is {inWhat} '{inPath}', an input of this run: writing it would destroy the input. Write the output somewhere else.");
            return;
        }
        string full = Path.GetFullPath(inPath);
        string? sameFile = IsInside(target, input) || IsInside(target, full) ? target : FileOfFolder(input, written);
        if (sameFile is not null)
            throw new AccelAesException($"{outWhat} '{outPath}' is the file '{sameFile}' of {inWhat} '{inPath}', an input of this run: writing it would change the input. Write the output somewhere else.");
    }

    /// <summary>The input's absolute path with links followed, and its status; null when it cannot be examined (loading it will say why).</summary>
    private static string? Existing(string path, string what, out PathStatus? status)
    {
        status = null;
        try
        {
            string resolved = OutputPath.Resolve(path, what); // the same resolution the outputs get, so the two compare
            status = PathStatus.Of(resolved);
            return resolved;
        }
        catch (Exception e) when (e is AccelAesException or IOException)
        {
            return null;
        }
    }

    private static bool IsInside(string path, string folder) =>
        path.StartsWith(Path.TrimEndingDirectorySeparator(folder) + Path.DirectorySeparatorChar, PathComparison);

    /// <summary>A file of <paramref name="folder"/> (any depth, links followed) that is the same file as <paramref name="written"/>; null if none.</summary>
    private static string? FileOfFolder(string folder, PathStatus written)
    {
        if (written.Inode == 0) return null; // identity unknown on this platform: the path comparison is all there is
        var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = 0 };
        foreach (string file in Directory.EnumerateFiles(folder, "*", options).Take(InputLimits.MaxInputFolderFilesCompared))
        {
            try
            {
                if (PathStatus.Of(file) is { } s && s.SameFileAs(written)) return file;
            }
            catch (IOException)
            {
                // a link loop or an unreadable entry inside the folder: it cannot be the output's file
            }
        }
        return null;
    }
}
