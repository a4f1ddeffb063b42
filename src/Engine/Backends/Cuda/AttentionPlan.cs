namespace AccelAes.Engine.Backends.Cuda;

/// <summary>Which attention kernel runs a call.</summary>
public enum AttentionKernel
{
    /// <summary>attention.cu: tensor cores, online softmax (head dims ≤ 128).</summary>
    Flash,
    /// <summary>attention_ref.cu: one warp per query row, fp32 (head dims ≤ 256; the selftest's cross-check).</summary>
    Reference,
}

/// <summary>
/// Launch plan of one attention call, computed on the host from the shapes alone (pure; unit-tested without
/// a GPU). Mirrors the constants of attention.cu: FA_WARPS = 4 warps of 16 query rows (BlockM = 64 queries
/// per CTA), BlockN = 64 keys per K/V tile, shared rows padded by 8 elements.
/// </summary>
public sealed record AttentionPlan(
    AttentionKernel Kernel,
    string KernelName,
    int PaddedHeadDim,
    uint GridX, uint GridY, uint GridZ,
    uint BlockThreads,
    uint SharedBytes)
{
    public const int BlockM = 64;
    public const int BlockN = 64;
    public const int FlashThreads = 128;
    public const int ReferenceWarpsPerBlock = 4;

    /// <summary>The padded head dims attention.cu is compiled for.</summary>
    public static IReadOnlyList<int> FlashHeadDims { get; } = [32, 64, 80, 128];

    /// <summary>Largest head dim of any path (the reference kernel holds 8 values per lane).</summary>
    public const int MaxHeadDim = 256;

    /// <summary>Shared memory of the flash kernel for padded head dim <paramref name="dp"/>: Q [64] + K,V [2][64] rows of dp+8 bf16.</summary>
    public static uint FlashSharedBytes(int dp) => (uint)((BlockM + 4 * BlockN) * (dp + 8) * 2);

    /// <summary>The smallest flash specialisation holding both head dims, or null (then the reference kernel).</summary>
    public static int? FlashHeadDimFor(int d, int dv)
    {
        int need = Math.Max(d, dv);
        foreach (int dp in FlashHeadDims)
            if (need <= dp)
                return dp;
        return null;
    }

    /// <summary>Plans a call; <paramref name="forceReference"/> picks the reference kernel regardless of shape.</summary>
    public static AttentionPlan Create(int batch, int sq, int hq, int d, int dv, bool forceReference = false, int maxSharedBytes = 99 * 1024)
    {
        if (d > MaxHeadDim || dv > MaxHeadDim)
            throw new NotSupportedException($"Attention: head dims {d}/{dv} exceed the CUDA backend's maximum of {MaxHeadDim}.");
        int? dp = forceReference ? null : FlashHeadDimFor(d, dv);
        if (dp is { } p && FlashSharedBytes(p) <= maxSharedBytes)
            return new AttentionPlan(AttentionKernel.Flash, $"attention_fwd_d{p}_bf16", p,
                (uint)LaunchConfig.CeilDiv(sq, BlockM), (uint)hq, (uint)batch, FlashThreads, FlashSharedBytes(p));
        long rows = (long)batch * sq * hq;
        return new AttentionPlan(AttentionKernel.Reference, "attention_ref_bf16", 0,
            (uint)LaunchConfig.CeilDiv(rows, ReferenceWarpsPerBlock), 1, 1, 32 * ReferenceWarpsPerBlock, 0);
    }

    /// <summary>
    /// Number of K/V tiles the CTA owning queries [q0, q0 + 64) visits: all ceil(Sk / 64) of them, or under
    /// causal masking (query i sees keys j ≤ i + Sk − Sq) only those up to the tile holding the last key
    /// visible to the CTA's last query; 0 when no query of the CTA sees any key (rows written as zeros).
    /// Same formula as attention.cu.
    /// </summary>
    public static int KeyTiles(int q0, int sq, int sk, bool causal)
    {
        int tiles = (int)LaunchConfig.CeilDiv(sk, BlockN);
        if (causal)
        {
            int lastKey = Math.Min(q0 + BlockM, sq) - 1 + (sk - sq);
            tiles = Math.Min(tiles, lastKey < 0 ? 0 : lastKey / BlockN + 1);
        }
        return tiles;
    }

    /// <summary>Whether tile <paramref name="tile"/> of that CTA needs per-element masking (same condition as attention.cu).</summary>
    public static bool TileNeedsMask(int tile, int q0, int sq, int sk, bool causal, bool hasKeyMask)
    {
        int key0 = tile * BlockN;
        return key0 + BlockN > sk || hasKeyMask || (causal && key0 + BlockN - 1 > q0 + (sk - sq));
    }
}
