namespace AccelAes.Cli.Tests.Fuzz;

/// <summary>
/// What every fuzz case starts from, made once per test class: a cache directory (with the built-in model already
/// in it, so no case pays for writing it or races another case doing so) and the pristine tiny models, written with
/// `accelaes make-tiny` and copied into each case's own folder before it is mutated.
/// </summary>
public sealed class FuzzModels : IDisposable
{
    private readonly TempDirectory _models = new();

    public FuzzModels()
    {
        foreach (string arch in CommandArguments.Archs) Cache.MakeTiny(arch, _models);
        var warm = Cache.Run("tokenize", "--prompt", "warm the cache");
        Assert.True(warm.ExitCode == 0, warm.All);
        Cases = new TempDirectory();
    }

    public CliCache Cache { get; } = new();

    /// <summary>Holds one folder per arch: sd3, flux, lumina-next.</summary>
    public string Pristine => _models.Path;

    /// <summary>Where the cases' folders go.</summary>
    public TempDirectory Cases { get; }

    public void Dispose()
    {
        Cases.Dispose();
        _models.Dispose();
        Cache.Dispose();
    }
}
