using AccelAes.Engine.Backends.Counting;

namespace AccelAes.Engine.Benchmarks.Accounting;

/// <summary>
/// A GPU as the roofline sees it: peak dense bf16 tensor-core throughput with fp32 accumulation (what our GEMMs and
/// attention use) and DRAM bandwidth, from the vendor's published specifications.
/// </summary>
public sealed record RooflineCard(string Name, double PeakBf16Tflops, double DramGigabytesPerSecond, string Source)
{
    /// <summary>
    /// The floor of a span under this card: (GEMM FLOPs + attention FLOPs) / peak + memory-bound bytes / bandwidth. It
    /// adds the two instead of taking a per-kernel maximum ("max-free"), because the compute-bound and the memory-bound
    /// kernels run one after another on one stream: neither can hide the other. GEMM and attention operand bytes are left
    /// out (they are compute-bound at these shapes), host copies too. No kernel reaches either peak, so a real step is slower.
    /// </summary>
    public RooflineFloor Floor(TrafficTotals totals)
    {
        double computeMs = (totals.GemmFlops + totals.AttentionFlops) / (PeakBf16Tflops * 1e12) * 1e3;
        double memoryMs = totals.MemoryBoundBytes / (DramGigabytesPerSecond * 1e9) * 1e3;
        return new RooflineFloor(this, computeMs, memoryMs);
    }
}

/// <summary>A roofline floor: its compute part, its memory part and their sum.</summary>
public sealed record RooflineFloor(RooflineCard Card, double ComputeMilliseconds, double MemoryMilliseconds)
{
    public double Milliseconds => ComputeMilliseconds + MemoryMilliseconds;
}
