using AccelAes.Engine.Backends.Cuda;
using AccelAes.Kernels;

namespace AccelAes.Engine.Backends.Counting;

// The counting rule of split-KV attention (issue 16, attention item 3; CudaBackend.SplitKv.cs, attention_splitkv.cu).
public sealed partial class CountingBackend
{
    /// <summary>
    /// The device whose limits the counted attention plan is made for (split-KV depends on the SM count and occupancy):
    /// an H100 SXM (compute capability 9.0: 132 SMs, 227 KiB of shared memory per block, 64 Ki registers per SM), the
    /// card the targets are set for.
    /// </summary>
    public DeviceLimits PlannedDevice { get; init; } = new(132, 232_448, 233_472, 1024, 2048, 32, 65_536);

    /// <summary>
    /// The split-KV setting counted (as <see cref="CudaBackend.AttentionKvSplits"/>): null lets the plan decide, 1 never
    /// splits, n forces n splits on every flash call.
    /// </summary>
    public int? AttentionKvSplits { get; init; }

    /// <summary>
    /// One flash attention call as the CUDA backend plans it on <see cref="PlannedDevice"/> (split-KV chosen automatically unless
    /// <see cref="AttentionKvSplits"/> says otherwise; never with an affinity output). Unsplit: one launch reading <paramref name="read"/> and writing the bf16 output
    /// (<paramref name="outputBytes"/>) plus <paramref name="otherWritten"/>; <paramref name="epilogueRead"/> (the accumulate
    /// epilogue's destination and head scale) is read there too. Split n ways: the attention launch reads the same inputs
    /// and writes n fp32 partials and lse per row, n·B·Hq·Sq·(Dv + 1)·4 bytes, instead of the output; then one
    /// attention_splitkv_combine_bf16 launch reads them back (every split of every row; a split of weight 0 is skipped on
    /// the GPU, so this is the bound) with the epilogue's reads and writes the bf16 output.
    /// </summary>
    private void CountFlashAttention(string op, long read, long outputBytes, long otherWritten, long epilogueRead, double flops,
        int batch, int sq, int sk, int hq, int d, int dv, bool causal, bool withAffinity)
    {
        var plan = AttentionPlan.Create(batch, sq, hq, d, dv, PlannedDevice, sk: sk, causal: causal, kvSplits: withAffinity ? 1 : AttentionKvSplits);
        if (!plan.IsSplitKv)
        {
            Ledger.Add(op, "attention", TrafficKind.Attention, read + epilogueRead, outputBytes + otherWritten, flops, 1);
            return;
        }
        long partials = (long)plan.KvSplits * batch * hq * sq * (dv + 1L) * 4;
        Ledger.Add(op, $"attention (split-KV × {plan.KvSplits})", TrafficKind.Attention, read, partials + otherWritten, flops, 1);
        Kernel(op, "attention_splitkv_combine_bf16", (long)batch * hq * sq * dv, partials + epilogueRead, outputBytes);
    }
}
