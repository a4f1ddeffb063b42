using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Weights;

/// <summary>
/// Binds checkpoint tensors to a backend by their diffusers key names, checking each shape against what the
/// config implies. Scopes mirror the module tree (<c>transformer_blocks.3.attn</c>), so model code reads like
/// the diffusers module that owns the parameter. Records which tensors were used, so a checkpoint that does not
/// match its config (tensors left over) can be reported.
/// </summary>
public sealed class WeightReader
{
    private readonly IWeightSource _source;
    private readonly string _prefix;
    private readonly HashSet<string> _used;

    public WeightReader(IWeightSource source, IBackend backend)
        : this(source, backend, "", new HashSet<string>(StringComparer.Ordinal)) { }

    private WeightReader(IWeightSource source, IBackend backend, string prefix, HashSet<string> used)
    {
        _source = source;
        Backend = backend;
        _prefix = prefix;
        _used = used;
    }

    public IBackend Backend { get; }

    /// <summary>The source's <see cref="IWeightSource.StreamsBlocks"/>: no kernel may read two blocks' weights.</summary>
    public bool StreamsBlocks => _source.StreamsBlocks;

    /// <summary>A reader whose names are relative to <paramref name="module"/> (e.g. "transformer_blocks.0").</summary>
    public WeightReader Scope(string module) => new(_source, Backend, _prefix + module + ".", _used);

    public string FullName(string name) => _prefix + name;

    public bool Has(string name) => _source.Contains(FullName(name));

    /// <summary>Loads tensor <paramref name="name"/>, which must have exactly <paramref name="shape"/>.</summary>
    public Tensor Get(string name, params int[] shape)
    {
        string full = FullName(name);
        Tensor t = _source.Load(full, new Shape(shape), Backend);
        _used.Add(full);
        return t;
    }

    /// <summary>
    /// Reads a small parameter as exact fp32 values on the host, whatever precision the backend stores weights in:
    /// for scalars the model uses on the host (CLIP's <c>logit_scale</c>, which bf16 storage would move by 1 % after exp).
    /// </summary>
    public float[] GetHostValues(string name, params int[] shape)
    {
        string full = FullName(name);
        using var cpu = new Backends.Cpu.CpuBackend();
        float[] values = cpu.Download(_source.Load(full, new Shape(shape), cpu));
        _used.Add(full);
        return values;
    }

    /// <summary>Loads <paramref name="name"/> when the source has it, else null.</summary>
    public Tensor? GetOptional(string name, params int[] shape) => Has(name) ? Get(name, shape) : null;

    /// <summary>Source tensors no module asked for (meaningful after the model is built).</summary>
    public IReadOnlyList<string> UnusedTensors()
        => _source.Names.Where(n => n.StartsWith(_prefix, StringComparison.Ordinal) && !_used.Contains(n)).Order().ToList();
}

/// <summary>A checkpoint tensor that does not fit the model the config describes.</summary>
public sealed class WeightShapeException(string tensor, string source, string problem)
    : AccelAesException($"Tensor '{tensor}' in {source} {problem}.")
{
    public string TensorName { get; } = tensor;
}
