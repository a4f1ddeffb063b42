using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Sampling;

/// <summary>
/// Runs a denoiser's per-step work (the transformer forward, with its CFG combine where that is fixed) as a
/// captured graph on a backend that can (<see cref="IGraphCapableBackend"/>), and plainly elsewhere. The models
/// stay as diffusers writes them; the denoisers wrap their model call in <see cref="Run"/> and take their per-step
/// scalars from <see cref="Scalars"/>.
/// </summary>
/// <remarks>
/// <para>For one key: the first call runs eagerly (it compiles kernels, plans GEMMs and warms the memory pool, so
/// the capture needs no cuMemAlloc), the second captures the graph and launches it, every later call only launches
/// it. A different key (shapes, inputs, the AccelAes step kind or focus set — whatever changes what the work
/// queues) gets a graph of its own; the least recently used one is dropped when more than the capacity exist. A capture that fails (an op that needs the host; see
/// <see cref="GraphCaptureException"/>) is reported once on standard error, naming the op, and that key then runs
/// eagerly.</para>
/// <para>The tensor <see cref="Run"/> returns is the graph's output: the next launch rewrites it. Callers that keep a
/// step's result across steps copy it (the StepCache history does).</para>
/// </remarks>
public sealed class StepGraph : IDisposable
{
    private readonly IBackend _backend;
    private readonly IGraphCapableBackend? _graphs;
    private readonly Dictionary<(int Slot, int Count), Tensor> _scalars = new();
    private readonly List<Entry> _entries = []; // most recently used last
    private readonly int _capacity;

    /// <param name="backend">The backend the work runs on.</param>
    /// <param name="name">The graph's name in messages and profiles ("sd3 step").</param>
    /// <param name="capacity">Graphs kept at once (each reserves its own activations): 2 = the dense step and the
    /// AccelAes sparse step; the least recently used goes when a new key needs room.</param>
    public StepGraph(IBackend backend, string name, int capacity = 2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _backend = backend;
        Name = name;
        _capacity = capacity;
        _graphs = backend as IGraphCapableBackend;
    }

    public string Name { get; }

    /// <summary>True when the backend captures graphs and graphs are enabled.</summary>
    public bool UsesGraphs => _graphs is { GraphsEnabled: true };

    /// <summary>Where capture failures are reported (default: a warning line on standard error).</summary>
    public Action<string> Warn { get; set; } = message => Console.Error.WriteLine($"warning: {message}");

    /// <summary>
    /// An F32 tensor [count] holding <paramref name="value"/> everywhere. With graphs, the same tensor (per slot and
    /// count) is refilled on the device before each launch, so a captured graph reads this step's value; without,
    /// a fresh upload, exactly as before.
    /// </summary>
    public Tensor Scalars(int slot, float value, int count)
    {
        if (!UsesGraphs)
        {
            var values = new float[count];
            Array.Fill(values, value);
            return _backend.Upload(values, new Shape(count));
        }
        if (!_scalars.TryGetValue((slot, count), out var t))
            _scalars[(slot, count)] = t = _backend.Upload(new float[count], new Shape(count));
        _graphs!.FillScalars(t, value);
        return t;
    }

    /// <summary>
    /// The result of <paramref name="work"/>: computed eagerly, or by launching the graph recorded for
    /// <paramref name="key"/> (compared with <see cref="object.Equals(object)"/>; include every shape and every input
    /// tensor the work reads, by reference, and anything that changes which ops it queues).
    /// </summary>
    public Tensor Run(object key, Func<Tensor> work)
    {
        if (!UsesGraphs)
            return work();
        Entry entry = Touch(key);
        entry.Runs++;
        if (entry.Graph is null)
        {
            if (entry.Eager || entry.Runs == 1)
                return work();
            try
            {
                entry.Graph = _graphs!.Capture(Name, work);
            }
            catch (GraphCaptureException e)
            {
                entry.Eager = true;
                Warn($"{Name}: running eagerly, the step could not be captured as a CUDA graph ({e.Message}).");
                return work();
            }
        }
        entry.Graph.Launch();
        return entry.Graph.Output;
    }

    public void Dispose()
    {
        foreach (var e in _entries)
            e.Graph?.Dispose();
        _entries.Clear();
        foreach (var t in _scalars.Values)
            t.Dispose();
        _scalars.Clear();
    }

    /// <summary>The entry of <paramref name="key"/>, made the most recently used (created, evicting the oldest, if new).</summary>
    private Entry Touch(object key)
    {
        int i = _entries.FindIndex(e => Equals(e.Key, key));
        Entry entry;
        if (i >= 0)
        {
            entry = _entries[i];
            _entries.RemoveAt(i);
        }
        else
        {
            if (_entries.Count >= _capacity)
            {
                _entries[0].Graph?.Dispose();
                _entries.RemoveAt(0);
            }
            entry = new Entry(key);
        }
        _entries.Add(entry);
        return entry;
    }

    private sealed class Entry(object key)
    {
        public object Key { get; } = key;
        public ICapturedGraph? Graph { get; set; }
        public int Runs { get; set; }
        public bool Eager { get; set; }
    }
}
