using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>The arguments of one flash attention call (attention.cu's parameter list, in its order, plus the batch).</summary>
internal readonly record struct FlashAttentionCall(
    CuDevicePtr Q, CuDevicePtr K, CuDevicePtr V, CuDevicePtr Out, CuDevicePtr Lse, CuDevicePtr KeyMask, CuDevicePtr Bias,
    CuDevicePtr KeyWeights, CuDevicePtr Affinity, int Batch, int Sq, int Sk, int Hq, int Hkv, int D, int Dv, float Scale,
    bool Causal, bool BiasPerBatch, int OutStride, CuDevicePtr Accumulate, int QRowStride, int KRowStride, int VRowStride,
    FlashQueryNorm QueryNorm = default);

/// <summary>
/// attention.cu's last six parameters (issue 16, Fusion 15): q's LayerNorm statistics [B·Sq] of (mean, rstd), its [Hq·D] norm
/// weight and bias, the fp32 RoPE tables [Sq, Pairs]; the kernel normalises and rotates the raw q tile as it loads it.
/// Default (all null): q is used as read.
/// </summary>
internal readonly record struct FlashQueryNorm(CuDevicePtr Stats, CuDevicePtr Weight, CuDevicePtr Bias, CuDevicePtr Cos, CuDevicePtr Sin, int Pairs);

public sealed partial class CudaBackend
{
    /// <summary>
    /// The split-KV setting of every flash attention call (issue 16): null lets <see cref="AttentionPlan.ChooseKvSplits"/>
    /// decide, 1 turns split-KV off, n forces n key splits (tests, benchmarks). See <see cref="CudaBackendOptions.AttentionKvSplits"/>.
    /// </summary>
    public int? AttentionKvSplits { get; set; }

    /// <summary>
    /// The split-KV setting a call may use: the backend's, except that calls with an affinity output never split (the
    /// merge does not carry AesMask's key-weighted sums: refused, the plan runs them unsplit).
    /// </summary>
    private int? KvSplitsFor(bool withAffinity) => withAffinity ? 1 : AttentionKvSplits;

    /// <summary>
    /// Launches a flash plan: one attention.cu launch writing the output, or with <see cref="AttentionPlan.KvSplits"/> &gt; 1
    /// the attention launch writing fp32 partials and their lse to pooled temporaries (grid z = B·splits) and
    /// attention_splitkv_combine_bf16 merging them into the output (out_stride, accumulate epilogue and lse as asked).
    /// </summary>
    private void LaunchFlashAttention(AttentionPlan plan, in FlashAttentionCall c)
    {
        CuDevicePtr none = default;
        var grid = new Dim3(plan.GridX, plan.GridY, plan.GridZ);
        if (!plan.IsSplitKv)
        {
            Launch(plan.KernelName, grid, plan.BlockThreads, plan.SharedBytes,
                c.Q, c.K, c.V, c.Out, c.Lse, c.KeyMask, c.Bias, c.KeyWeights, c.Affinity, c.Sq, c.Sk, c.Hq, c.Hkv, c.D, c.Dv, c.Scale,
                c.Causal, c.BiasPerBatch, c.OutStride, c.Accumulate, c.QRowStride, c.KRowStride, c.VRowStride, none, none, 1,
                c.QueryNorm.Stats, c.QueryNorm.Weight, c.QueryNorm.Bias, c.QueryNorm.Cos, c.QueryNorm.Sin, c.QueryNorm.Pairs);
            return;
        }
        if (c.Affinity.Address != 0)
            throw new InvalidOperationException("Split-KV attention does not merge affinity outputs; the plan must not split such calls.");
        int splits = plan.KvSplits;
        var partialO = Temporary(new Shape(splits, c.Batch, c.Hq, c.Sq, c.Dv), DType.F32);
        var partialLse = Temporary(new Shape(splits, c.Batch, c.Hq, c.Sq), DType.F32);
        Launch(plan.KernelName, grid, plan.BlockThreads, plan.SharedBytes,
            c.Q, c.K, c.V, none, none, c.KeyMask, c.Bias, none, none, c.Sq, c.Sk, c.Hq, c.Hkv, c.D, c.Dv, c.Scale,
            c.Causal, c.BiasPerBatch, c.OutStride, none, c.QRowStride, c.KRowStride, c.VRowStride,
            partialO.Pointer, partialLse.Pointer, splits,
            c.QueryNorm.Stats, c.QueryNorm.Weight, c.QueryNorm.Bias, c.QueryNorm.Cos, c.QueryNorm.Sin, c.QueryNorm.Pairs);
        long rows = (long)c.Batch * c.Hq * c.Sq;
        const int warps = 4;
        Launch("attention_splitkv_combine_bf16", new Dim3((uint)LaunchConfig.CeilDiv(rows, warps), 1, 1), 32 * warps, 0,
            partialO.Pointer, partialLse.Pointer, c.Out, c.Lse, c.Accumulate, splits, c.Batch, c.Sq, c.Hq, c.Dv, c.OutStride);
    }
}
