namespace AccelAes.Cli.Tests.Fuzz;

/// <summary>Where a hostile choice goes: an option value, the model folder, an input file, an output path, the command line's shape.</summary>
internal enum FaultSite { Value, Model, Input, Output, CommandLine }

/// <summary>
/// The random source of one case, with its hostile choices ("faults"). A single-fault case picks the site of its
/// one fault first (so output paths, drawn last, are hit as often as the model folder, drawn first) and places it at
/// one of that site's decisions; a failure then points at that one bad argument or broken file. A free case may pile
/// many up anywhere. Every choice comes from the one seeded <see cref="Random"/>, in a fixed order, so the index and
/// base seed reproduce the case exactly.
/// </summary>
internal sealed class FuzzDraw(int seed)
{
    /// <summary>Single-fault cases: how often each site is chosen, and the chance each of its decisions takes the fault.</summary>
    private static readonly (FaultSite Site, int Weight, double Chance)[] Sites =
    [
        (FaultSite.Value, 30, 0.35), (FaultSite.Model, 25, 0.9), (FaultSite.Output, 25, 0.7), (FaultSite.Input, 15, 0.5), (FaultSite.CommandLine, 5, 0.3),
    ];

    private readonly Random _random = new(seed);
    private int _faultsLeft;
    private double _chance;
    private FaultSite? _site;

    public string Mode { get; private set; } = "valid";

    /// <summary>No fault at all: every value valid, every file intact.</summary>
    public void NoFaults() => _faultsLeft = 0;

    /// <summary>One fault, at one of the <paramref name="possible"/> sites (those the command has), drawn by <see cref="Sites"/>' weights.</summary>
    public void SingleFault(IReadOnlyCollection<FaultSite> possible)
    {
        var sites = Sites.Where(s => possible.Contains(s.Site)).ToList();
        int r = _random.Next(sites.Sum(s => s.Weight));
        foreach (var (site, weight, chance) in sites)
            if ((r -= weight) < 0)
            {
                (_site, _chance) = (site, chance);
                break;
            }
        _faultsLeft = 1;
        Mode = $"one fault ({_site})";
    }

    /// <summary>Up to <paramref name="faults"/> faults anywhere, each decision hostile with <paramref name="chance"/>.</summary>
    public void ManyFaults(int faults, double chance)
    {
        (_faultsLeft, _chance, _site) = (faults, chance, null);
        Mode = "many faults";
    }

    /// <summary>True when this choice, at <paramref name="site"/>, should be hostile (spends one fault).</summary>
    public bool Fault(FaultSite site)
    {
        if (_faultsLeft <= 0 || (_site is { } only && only != site) || _random.NextDouble() >= _chance) return false;
        _faultsLeft--;
        return true;
    }

    public bool Chance(double p) => _random.NextDouble() < p;

    public int Int(int minInclusive, int maxExclusive) => _random.Next(minInclusive, maxExclusive);

    public T PickFrom<T>(IReadOnlyList<T> items) => items[_random.Next(items.Count)];

    public T Pick<T>(params T[] items) => items[_random.Next(items.Length)];
}
