using System.Text;

namespace AccelAes.Cli.Tests.Fuzz;

/// <summary>
/// One generated CLI run: the arguments, the environment, and what the run may touch. Everything in it was drawn
/// from a <see cref="Random"/> seeded with <see cref="Seed"/>, so a case is reproduced by its index and the base seed.
/// </summary>
internal sealed class FuzzCase
{
    public required int Index { get; init; }
    public required int Seed { get; init; }
    public required string Command { get; init; }
    public required IReadOnlyList<string> Arguments { get; init; }

    /// <summary>Extra environment variables for the child (on top of the test's cache directory).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Where the run is started; relative paths resolve here.</summary>
    public required string WorkingDirectory { get; init; }

    /// <summary>Files the run may write (as given on the command line, relative to the working directory).</summary>
    public IReadOnlyList<string> FileOutputs { get; init; } = [];

    /// <summary>Folders the run may fill (make-tiny --out, a cache directory): allowed only when new or empty before.</summary>
    public IReadOnlyList<string> FolderOutputs { get; init; } = [];

    /// <summary>Files and folders the run reads: never to be modified, even when also named as an output.</summary>
    public IReadOnlyList<string> Inputs { get; init; } = [];

    /// <summary>How hostile the case is: valid, one fault (and where), many faults.</summary>
    public string Mode { get; init; } = "valid";

    /// <summary>What was done to the model folder and input files before the run, for the failure message.</summary>
    public IReadOnlyList<string> Mutations { get; init; } = [];

    /// <summary>The command line as a shell would take it; arguments over 160 characters are abbreviated (the seed reproduces them).</summary>
    public string CommandLine
    {
        get
        {
            var line = new StringBuilder();
            foreach (var (name, value) in Environment) line.Append(name).Append('=').Append(Quote(value)).Append(' ');
            line.Append("accelaes ").Append(Command);
            foreach (string a in Arguments) line.Append(' ').Append(Quote(a));
            return line.ToString();
        }
    }

    private static string Quote(string arg)
    {
        string shown = arg.Length <= 160 ? arg : $"{arg[..40]}…[{arg.Length} chars]";
        bool plain = shown.Length > 0 && shown.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,+@%".Contains(c));
        return plain ? shown : "'" + shown.Replace("'", "'\\''").Replace("\n", "\\n").Replace("\t", "\\t") + "'";
    }
}
