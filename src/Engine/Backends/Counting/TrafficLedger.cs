namespace AccelAes.Engine.Backends.Counting;

/// <summary>How the roofline treats what one kernel (or driver operation) moved.</summary>
public enum TrafficKind
{
    /// <summary>A GEMM (cuBLASLt or gemm.cu): bounded by tensor-core FLOP/s, its operand bytes are not memory-bound traffic.</summary>
    Gemm,
    /// <summary>The attention kernel: bounded by tensor-core FLOP/s like a GEMM.</summary>
    Attention,
    /// <summary>Any other kernel: elementwise, norm, layout, conversion; bounded by DRAM bandwidth.</summary>
    MemoryBound,
    /// <summary>cuMemcpyDtoDAsync / cuMemsetD8Async: device traffic without a kernel launch of ours.</summary>
    DeviceCopy,
    /// <summary>Host ↔ device copies (uploads, downloads): PCIe, not DRAM; never part of a step on the fast path.</summary>
    HostTransfer,
}

/// <summary>What one (op, kernel) pair accumulated: calls, bytes read and written, FLOPs, kernel launches.</summary>
/// <param name="Op">The IBackend member that issued the work (Linear, Concat, …).</param>
/// <param name="Kernel">The kernel or driver call, as the CUDA backend names it (copy2d, convert_f32_to_bf16, memcpy …).</param>
public sealed record TrafficClass(string Op, string Kernel, TrafficKind Kind, long Calls, long BytesRead, long BytesWritten, double Flops, long Launches)
{
    public long Bytes => BytesRead + BytesWritten;

    /// <summary>"Concat · copy2d" — the name the breakdown tables show.</summary>
    public string Name => $"{Op} · {Kernel}";
}

/// <summary>Totals of a counted span (one forward, one step), with the per-class breakdown.</summary>
public sealed record TrafficTotals(IReadOnlyList<TrafficClass> Classes)
{
    public static TrafficTotals Empty { get; } = new([]);

    public double GemmFlops => Classes.Where(c => c.Kind == TrafficKind.Gemm).Sum(c => c.Flops);

    public double AttentionFlops => Classes.Where(c => c.Kind == TrafficKind.Attention).Sum(c => c.Flops);

    /// <summary>Bytes moved by memory-bound kernels and device copies/memsets: everything but GEMM, attention and host copies.</summary>
    public long MemoryBoundBytes => Classes.Where(c => c.Kind is TrafficKind.MemoryBound or TrafficKind.DeviceCopy).Sum(c => c.Bytes);

    /// <summary>Operand and result bytes of the GEMMs (each read or written once: the ideal a GEMM's tiling approaches).</summary>
    public long GemmBytes => Classes.Where(c => c.Kind == TrafficKind.Gemm).Sum(c => c.Bytes);

    public long AttentionBytes => Classes.Where(c => c.Kind == TrafficKind.Attention).Sum(c => c.Bytes);

    public long HostBytes => Classes.Where(c => c.Kind == TrafficKind.HostTransfer).Sum(c => c.Bytes);

    /// <summary>Kernel launches (cuLaunchKernel, a cuBLASLt matmul counted as one).</summary>
    public long Launches => Classes.Sum(c => c.Launches);

    /// <summary>Device-to-device copies and memsets (driver calls, graph nodes, but no kernel of ours).</summary>
    public long DeviceCopies => Classes.Where(c => c.Kind == TrafficKind.DeviceCopy).Sum(c => c.Calls);

    /// <summary>The classes by total bytes, largest first (ties: more FLOPs first).</summary>
    public IReadOnlyList<TrafficClass> ByTraffic => Classes.OrderByDescending(c => c.Bytes).ThenByDescending(c => c.Flops).ThenBy(c => c.Name, StringComparer.Ordinal).ToList();

    /// <summary>Launches per IBackend op name (for comparing with a driver's launch counter op by op).</summary>
    public IReadOnlyDictionary<string, long> LaunchesByOp =>
        Classes.GroupBy(c => c.Op).ToDictionary(g => g.Key, g => g.Sum(c => c.Launches), StringComparer.Ordinal);

    /// <summary>The sum of two spans (a forward and the rest of its step).</summary>
    public TrafficTotals Plus(TrafficTotals other) => Scaled(1).Merge(other, 1);

    /// <summary>These totals times <paramref name="factor"/> (a step kind that occurs several times in a mix).</summary>
    public TrafficTotals Scaled(long factor) => new(Classes.Select(c => c with
    {
        Calls = c.Calls * factor, BytesRead = c.BytesRead * factor, BytesWritten = c.BytesWritten * factor, Flops = c.Flops * factor,
        Launches = c.Launches * factor,
    }).ToList());

    private TrafficTotals Merge(TrafficTotals other, long factor)
    {
        var merged = Classes.ToDictionary(c => (c.Op, c.Kernel, c.Kind));
        foreach (var c in other.Scaled(factor).Classes)
            merged[(c.Op, c.Kernel, c.Kind)] = merged.TryGetValue((c.Op, c.Kernel, c.Kind), out var m)
                ? m with { Calls = m.Calls + c.Calls, BytesRead = m.BytesRead + c.BytesRead, BytesWritten = m.BytesWritten + c.BytesWritten,
                    Flops = m.Flops + c.Flops, Launches = m.Launches + c.Launches }
                : c;
        return new(merged.Values.ToList());
    }
}

/// <summary>Accumulates <see cref="TrafficClass"/> entries while <see cref="Recording"/>; <see cref="Take"/> ends a span.</summary>
public sealed class TrafficLedger
{
    private readonly Dictionary<(string Op, string Kernel, TrafficKind Kind), TrafficClass> _classes = new();

    /// <summary>False while work that is not part of the measured span runs (model construction, input upload).</summary>
    public bool Recording { get; set; } = true;

    public void Add(string op, string kernel, TrafficKind kind, long read, long written, double flops, int launches)
    {
        if (!Recording) return;
        var key = (op, kernel, kind);
        _classes[key] = _classes.TryGetValue(key, out var c)
            ? c with { Calls = c.Calls + 1, BytesRead = c.BytesRead + read, BytesWritten = c.BytesWritten + written, Flops = c.Flops + flops,
                Launches = c.Launches + launches }
            : new TrafficClass(op, kernel, kind, 1, read, written, flops, launches);
    }

    /// <summary>What was counted since the last call (or since construction), and a fresh start.</summary>
    public TrafficTotals Take()
    {
        var totals = new TrafficTotals(_classes.Values.ToList());
        _classes.Clear();
        return totals;
    }
}
