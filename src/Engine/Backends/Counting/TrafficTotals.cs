namespace AccelAes.Engine.Backends.Counting;

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
    public TrafficTotals Plus(TrafficTotals other)
    {
        var merged = Classes.ToDictionary(c => (c.Op, c.Kernel, c.Kind));
        foreach (var c in other.Classes)
            merged[(c.Op, c.Kernel, c.Kind)] = merged.TryGetValue((c.Op, c.Kernel, c.Kind), out var m) ? m.Plus(c) : c;
        return new(merged.Values.ToList());
    }

    /// <summary>These totals times <paramref name="factor"/> (a step kind that occurs several times in a mix).</summary>
    public TrafficTotals Scaled(long factor) => new(Classes.Select(c => c with
    {
        Calls = c.Calls * factor, BytesRead = c.BytesRead * factor, BytesWritten = c.BytesWritten * factor, Flops = c.Flops * factor,
        Launches = c.Launches * factor,
    }).ToList());
}
