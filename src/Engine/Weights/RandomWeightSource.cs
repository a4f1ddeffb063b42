using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Weights;

/// <summary>
/// Generates any tensor a model asks for, deterministically from (seed, name), with the initialisation the
/// conformance goldens use so activations stay O(1): norm weights 1 + N(0, 0.1), biases N(0, 0.05), other
/// matrices N(0, 1/√fan_in). Optional tensors are absent unless added with <see cref="Add"/>. Everything
/// generated is remembered, so a tiny model can be written out as a checkpoint.
/// </summary>
public sealed class RandomWeightSource(int seed) : IWeightSource
{
    private readonly Dictionary<string, (Shape Shape, float[] Values)> _made = new(StringComparer.Ordinal);
    private readonly HashSet<string> _optionalPresent = new(StringComparer.Ordinal);

    public string Description => $"random weights (seed {seed})";

    /// <summary>Only explicitly added tensors count as present, so optional parameters stay absent by default.</summary>
    public bool Contains(string name) => _optionalPresent.Contains(name) || _made.ContainsKey(name);

    public IEnumerable<string> Names => _made.Keys;

    /// <summary>Tensors generated or added so far, in request order.</summary>
    public IReadOnlyDictionary<string, (Shape Shape, float[] Values)> Tensors => _made;

    /// <summary>Adds a tensor with given values (e.g. a buffer such as SD3's position table).</summary>
    public void Add(string name, Shape shape, float[] values)
    {
        _made[name] = (shape, values);
        _optionalPresent.Add(name);
    }

    public Tensor Load(string name, Shape shape, IBackend backend)
    {
        if (!_made.TryGetValue(name, out var entry))
        {
            entry = (shape, Generate(name, shape));
            _made[name] = entry;
        }
        else if (entry.Shape != shape)
            throw new WeightShapeException(name, Description, $"was generated as {entry.Shape} but is now requested as {shape}");
        return backend.Upload(entry.Values, shape);
    }

    private float[] Generate(string name, Shape shape)
    {
        // Not HashCode.Combine: it is seeded per process, so the same seed would give other weights in every run.
        var rng = new Random(unchecked(StableHash(name) * 31 + seed));
        var values = new float[shape.ElementCount];
        string leaf = name[(name.LastIndexOf('.') + 1)..];
        bool isNorm = name.Contains("norm", StringComparison.Ordinal) && leaf == "weight" && shape.Rank == 1;
        double std = leaf == "bias" ? 0.05 : isNorm ? 0.1 : 1.0 / Math.Sqrt(Math.Max(1, shape.ElementCount / Math.Max(1, shape[0])));
        double mean = isNorm ? 1.0 : 0.0;
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)(mean + std * Gaussian(rng));
        return values;
    }

    private static double Gaussian(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>FNV-1a, because string.GetHashCode is randomised per process and the weights must not be.</summary>
    private static int StableHash(string s)
    {
        uint h = 2166136261;
        foreach (char c in s) h = (h ^ c) * 16777619;
        return (int)h;
    }
}
