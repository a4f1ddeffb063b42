namespace AccelAes.TestSupport;

/// <summary>
/// Locates the shared conformance folder: <c>$ACCELAES_SHARED</c> if set, else <c>&lt;repo root&gt;/../shared</c>.
/// Tests that need it are <see cref="GoldenFactAttribute"/>s: skipped when it is missing, failing when <c>CI</c> is set.
/// </summary>
public static class GoldenFiles
{
    private static readonly Lazy<string?> SharedFolder = new(Locate);

    public static string? Shared => SharedFolder.Value;

    public static string Conformance =>
        Path.Combine(Shared ?? throw new InvalidOperationException(MissingMessage), "conformance");

    public static string At(params string[] parts) => Path.Combine([Conformance, .. parts]);

    public static bool RunningInCi => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"));

    public static string MissingMessage =>
        "The shared conformance folder was not found (set ACCELAES_SHARED or place it at <repo root>/../shared).";

    private static string? Locate()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("ACCELAES_SHARED");
        if (!string.IsNullOrEmpty(fromEnvironment))
            return Directory.Exists(Path.Combine(fromEnvironment, "conformance")) ? Path.GetFullPath(fromEnvironment) : null;

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (!File.Exists(Path.Combine(dir.FullName, "AccelAes.sln")))
                continue;
            var shared = Path.Combine(dir.FullName, "..", "shared");
            return Directory.Exists(Path.Combine(shared, "conformance")) ? Path.GetFullPath(shared) : null;
        }
        return null;
    }
}

/// <summary>A fact that needs the shared conformance folder: skipped without it, except under CI where it must fail.</summary>
public sealed class GoldenFactAttribute : FactAttribute
{
    public GoldenFactAttribute()
    {
        if (GoldenFiles.Shared is null && !GoldenFiles.RunningInCi)
            Skip = GoldenFiles.MissingMessage;
    }
}

/// <summary>A theory that needs the shared conformance folder: skipped without it, except under CI where it must fail.</summary>
public sealed class GoldenTheoryAttribute : TheoryAttribute
{
    public GoldenTheoryAttribute()
    {
        if (GoldenFiles.Shared is null && !GoldenFiles.RunningInCi)
            Skip = GoldenFiles.MissingMessage;
    }
}
