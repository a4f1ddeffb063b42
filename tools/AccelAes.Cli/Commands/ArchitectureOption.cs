using System.CommandLine;
using AccelAes.Engine.Benchmarks;

namespace AccelAes.Cli.Commands;

/// <summary>
/// The <c>--arch NAME</c> option of the commands that take a model by name (explain, bench): one vocabulary
/// (<see cref="ModelArchitectures"/>), listed in every help text from the same table; an unknown name is one error
/// listing the names.
/// </summary>
internal static class ArchitectureOption
{
    public static Option<string?> Create(string purpose) => new("--arch")
    {
        Description = $"{purpose}: {ModelArchitectures.NameList}.",
    };

    /// <summary>
    /// The architecture of <c>--arch NAME</c> or <c>--model DIR</c> (configs only), exactly one of them; null when
    /// neither is given and <paramref name="required"/> is false.
    /// </summary>
    public static ModelArchitecture? Resolve(string? name, string? modelDir, bool required)
    {
        if (name is not null && modelDir is not null)
            throw new AccelAesException("--arch and --model are alternatives; give one.");
        if (name is not null) return ModelArchitectures.Find(name);
        if (modelDir is not null) return ModelArchitectures.FromFolder(modelDir);
        if (required) throw new AccelAesException($"Give --arch NAME ({ModelArchitectures.NameList}) or --model DIR.");
        return null;
    }
}
