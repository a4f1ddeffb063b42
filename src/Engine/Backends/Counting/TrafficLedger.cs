namespace AccelAes.Engine.Backends.Counting;

/// <summary>Accumulates <see cref="TrafficClass"/> entries while <see cref="Recording"/>; <see cref="Take"/> ends a span.</summary>
public sealed class TrafficLedger
{
    private readonly Dictionary<(string Op, string Kernel, TrafficKind Kind), TrafficClass> _classes = new();

    /// <summary>False while work that is not part of the measured span runs (model construction, input upload).</summary>
    public bool Recording { get; set; } = true;

    /// <summary>
    /// While set, entries are booked under this op name: an op whose device code runs other ops (a fallback) is one op to
    /// the driver's per-op launch counter.
    /// </summary>
    internal string? BookAs { get; set; }

    public void Add(string op, string kernel, TrafficKind kind, long read, long written, double flops, int launches)
    {
        if (!Recording) return;
        op = BookAs ?? op;
        var key = (op, kernel, kind);
        var call = new TrafficClass(op, kernel, kind, 1, read, written, flops, launches);
        _classes[key] = _classes.TryGetValue(key, out var c) ? c.Plus(call) : call;
    }

    /// <summary>What was counted since the last call (or since construction), and a fresh start.</summary>
    public TrafficTotals Take()
    {
        var totals = new TrafficTotals(_classes.Values.ToList());
        _classes.Clear();
        return totals;
    }
}
