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

    /// <summary>This class's counts plus <paramref name="other"/>'s (the same op and kernel).</summary>
    public TrafficClass Plus(TrafficClass other) => this with
    {
        Calls = Calls + other.Calls, BytesRead = BytesRead + other.BytesRead, BytesWritten = BytesWritten + other.BytesWritten,
        Flops = Flops + other.Flops, Launches = Launches + other.Launches,
    };

    /// <summary>"Concat · copy2d" — the name the breakdown tables show.</summary>
    public string Name => $"{Op} · {Kernel}";
}
