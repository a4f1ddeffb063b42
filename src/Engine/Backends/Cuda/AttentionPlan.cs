using AccelAes.Kernels;

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
/// A compile-time variant of attention.cu (its header says what each is and why): <see cref="Warps"/> warps of 16 query
/// rows per CTA, K/V tiles of <see cref="BlockN"/> keys in <see cref="Stages"/> shared-memory stages, Q staged in
/// stage 1 until it is in registers. Entry point <c>attention_fwd_d&lt;DP&gt;_&lt;Name&gt;_bf16</c>.
/// </summary>
public sealed record FlashVariant(string Name, int Warps, int MinBlocksPerSm)
{
    public const int BlockN = 64;
    public const int Stages = 2;

    /// <summary>8 warps, 128 query rows per CTA (FlashAttention-2's large tile): the default.</summary>
    public static FlashVariant M128 { get; } = new("m128", 8, 1);

    /// <summary>4 warps, 64 query rows per CTA: twice the CTAs, for grids too small to give every SM a 128-row CTA.</summary>
    public static FlashVariant M64 { get; } = new("m64", 4, 2);

    /// <summary>Every variant, in order of preference (the first wins ties).</summary>
    public static IReadOnlyList<FlashVariant> All { get; } = [M128, M64];

    /// <summary>Query rows per CTA.</summary>
    public int BlockM => 16 * Warps;

    public int Threads => 32 * Warps;

    /// <summary>
    /// Registers per thread the kernel can use at most: the ISA's 255, further bounded by its
    /// <c>__launch_bounds__(Threads, MinBlocksPerSm)</c> on a 64 Ki-register SM (both give 255 for m64 and m128: one
    /// 8-warp or two 4-warp CTAs always fit by registers). Measured at sm_80/86/90 (NVRTC, issue 16 attention-core changes): 139–218, no spills.
    /// </summary>
    public int MaxRegistersPerThread => Math.Min(255, 65536 / (Threads * MinBlocksPerSm));

    public string KernelName(int paddedHeadDim) => $"attention_fwd_d{paddedHeadDim}_{Name}_bf16";

    /// <summary>Dynamic shared memory for padded head dim <paramref name="dp"/>: [Stages] × (K, V) × BlockN rows of dp+8 bf16 (Q reuses stage 1).</summary>
    public static uint SharedBytes(int dp) => (uint)(Stages * 2 * BlockN * (dp + 8) * 2);

    public static FlashVariant Parse(string name) =>
        All.FirstOrDefault(v => v.Name == name)
        ?? throw new ArgumentException($"Unknown flash attention variant '{name}' (known: {string.Join(", ", All.Select(v => v.Name))}).");

    public override string ToString() => Name;
}

/// <summary>How many CTAs of a kernel are resident per SM, and which limits bind (" &amp; "-joined when several do; for reports and tests).</summary>
public sealed record Occupancy(int CtasPerSm, int WarpsPerSm, string Limit)
{
    /// <summary>
    /// CTAs of <paramref name="threads"/> threads using <paramref name="sharedBytes"/> of dynamic shared memory and at most
    /// <paramref name="registersPerThread"/> registers that fit one SM of <paramref name="device"/>: the least of the shared
    /// memory (each CTA also takes the per-CTA reservation; 0 when the block exceeds the opt-in limit), thread, CTA and
    /// register limits (registers are allocated per warp in units of 256).
    /// </summary>
    public static Occupancy Of(DeviceLimits device, int threads, uint sharedBytes, int registersPerThread)
    {
        int warps = (threads + 31) / 32;
        int registersPerWarp = (registersPerThread * 32 + 255) / 256 * 256;
        var limits = new (int Ctas, string Name)[]
        {
            (sharedBytes > device.SharedMemoryPerBlockOptin ? 0
                : (int)(device.SharedMemoryPerMultiprocessor / (sharedBytes + (long)device.ReservedSharedMemoryPerBlock)), "shared memory"),
            (device.MaxThreadsPerMultiprocessor / threads, "threads"),
            (device.MaxBlocksPerMultiprocessor, "CTAs"),
            (device.RegistersPerMultiprocessor / registersPerWarp / warps, "registers"),
        };
        int ctas = limits.Min(l => l.Ctas);
        return new Occupancy(ctas, ctas * warps, string.Join(" & ", limits.Where(l => l.Ctas == ctas).Select(l => l.Name)));
    }
}

/// <summary>
/// Launch plan of one attention call, computed on the host from the shapes and the device's limits (pure; unit-tested
/// without a GPU). For the flash kernel: the padded head dim, the <see cref="FlashVariant"/> and the occupancy it gets.
/// </summary>
public sealed record AttentionPlan(
    AttentionKernel Kernel,
    string KernelName,
    int PaddedHeadDim,
    uint GridX, uint GridY, uint GridZ,
    uint BlockThreads,
    uint SharedBytes,
    FlashVariant? Variant = null,
    Occupancy? Occupancy = null,
    int KvSplits = 1)
{
    /// <summary>Whether the call runs split-KV: <see cref="KvSplits"/> key ranges in parallel, merged by attention_splitkv.cu.</summary>
    public bool IsSplitKv => KvSplits > 1;

    /// <summary>The plan in words (kernel, grid, occupancy, split-KV), for reports and test messages.</summary>
    public override string ToString() =>
        $"{KernelName} grid ({GridX}, {GridY}, {GridZ}) × {BlockThreads} threads, {SharedBytes} B shared"
        + (Occupancy is { } o ? $", {o.CtasPerSm} CTA/SM ({o.Limit})" : "")
        + (IsSplitKv ? $", split-KV × {KvSplits} + attention_splitkv_combine_bf16" : "");

    public const int BlockN = FlashVariant.BlockN;
    public const int ReferenceWarpsPerBlock = 4;

    /// <summary>The padded head dims attention.cu is compiled for.</summary>
    public static IReadOnlyList<int> FlashHeadDims { get; } = [32, 64, 80, 128];

    /// <summary>Largest head dim of any path (the reference kernel holds 8 values per lane).</summary>
    public const int MaxHeadDim = 256;

    /// <summary>The smallest flash specialisation holding both head dims, or null (then the reference kernel).</summary>
    public static int? FlashHeadDimFor(int d, int dv)
    {
        int need = Math.Max(d, dv);
        foreach (int dp in FlashHeadDims)
            if (need <= dp)
                return dp;
        return null;
    }

    /// <summary>Occupancy of <paramref name="variant"/> at padded head dim <paramref name="dp"/> on <paramref name="device"/>,
    /// assuming the most registers the variant may use (<see cref="FlashVariant.MaxRegistersPerThread"/>) unless told.</summary>
    public static Occupancy FlashOccupancy(FlashVariant variant, int dp, DeviceLimits device, int? registersPerThread = null) =>
        Occupancy.Of(device, variant.Threads, FlashVariant.SharedBytes(dp), registersPerThread ?? variant.MaxRegistersPerThread);

    /// <summary>
    /// The flash variant for a call on <paramref name="device"/>: the one with the most resident warps per SM (ties:
    /// <see cref="FlashVariant.All"/>'s order, i.e. 128-row CTAs, which load each K/V tile once per 128 queries); but
    /// when its grid would leave SMs without a CTA (few heads × short sequences), 64-row CTAs, which spread the same
    /// rows over twice the CTAs. Null when no variant fits the device's shared memory.
    /// </summary>
    public static FlashVariant? ChooseVariant(int batch, int sq, int hq, int dp, DeviceLimits device)
    {
        var fitting = FlashVariant.All.Select(v => (Variant: v, Occupancy: FlashOccupancy(v, dp, device)))
            .Where(c => c.Occupancy.CtasPerSm > 0).ToArray();
        if (fitting.Length == 0)
            return null;
        var best = fitting.MaxBy(c => c.Occupancy.WarpsPerSm).Variant; // MaxBy keeps the first of equals
        long ctas = LaunchConfig.CeilDiv(sq, best.BlockM) * hq * batch;
        if (ctas < device.MultiprocessorCount)
        {
            var smaller = fitting.Select(c => c.Variant).Where(v => v.BlockM < best.BlockM).MinBy(v => v.BlockM);
            if (smaller is not null)
                return smaller;
        }
        return best;
    }

    /// <summary>
    /// Plans a call; <paramref name="forceReference"/> picks the reference kernel regardless of shape,
    /// <paramref name="variant"/> a flash variant regardless of the device's occupancy (tests, benchmarks; it must
    /// still fit the device's shared memory).
    /// </summary>
    /// <remarks>
    /// Split-KV (<see cref="ChooseKvSplits"/>): with the key length <paramref name="sk"/> given (0: never split), the flash
    /// kernel's grid gains <see cref="KvSplits"/> key ranges in z; <paramref name="kvSplits"/> null lets the plan choose (never
    /// for causal masks, whose CTAs' key ranges differ), 1 turns it off, n &gt; 1 forces n (the kernel handles any mask: an
    /// empty range is a split of weight 0). The reference kernel never splits.
    /// </remarks>
    public static AttentionPlan Create(int batch, int sq, int hq, int d, int dv, DeviceLimits device, bool forceReference = false,
        FlashVariant? variant = null, int sk = 0, bool causal = false, int? kvSplits = null)
    {
        if (d > MaxHeadDim || dv > MaxHeadDim)
            throw new NotSupportedException($"Attention: head dims {d}/{dv} exceed the CUDA backend's maximum of {MaxHeadDim}.");
        int? dp = forceReference ? null : FlashHeadDimFor(d, dv);
        if (dp is { } p)
        {
            if (variant is not null && FlashOccupancy(variant, p, device).CtasPerSm == 0)
                throw new NotSupportedException(
                    $"Attention: flash variant {variant} at head dim {p} needs {FlashVariant.SharedBytes(p)} B of shared memory; the device has {device}.");
            var v = variant ?? ChooseVariant(batch, sq, hq, p, device);
            if (v is not null)
            {
                var occupancy = FlashOccupancy(v, p, device);
                long ctas = LaunchConfig.CeilDiv(sq, v.BlockM) * hq * batch;
                int splits = sk <= 0 ? 1
                    : kvSplits ?? (causal ? 1 : ChooseKvSplits(ctas, occupancy.CtasPerSm, sk, device.MultiprocessorCount));
                splits = Math.Clamp(Math.Min(splits, 65535 / Math.Max(batch, 1)), 1, MaxKvSplits); // grid z = B·splits ≤ 65535
                return new AttentionPlan(AttentionKernel.Flash, v.KernelName(p), p,
                    (uint)LaunchConfig.CeilDiv(sq, v.BlockM), (uint)hq, (uint)(batch * splits), (uint)v.Threads, FlashVariant.SharedBytes(p),
                    v, occupancy, splits);
            }
        }
        long rows = (long)batch * sq * hq;
        return new AttentionPlan(AttentionKernel.Reference, "attention_ref_bf16", 0,
            (uint)LaunchConfig.CeilDiv(rows, ReferenceWarpsPerBlock), 1, 1, 32 * ReferenceWarpsPerBlock, 0);
    }

    /// <summary>Most key splits (the merge reads every split's partial of a row).</summary>
    public const int MaxKvSplits = AccelAes.Loader.Validation.InputLimits.MaxAttentionKvSplits;

    /// <summary>Fewest K/V tiles a split must have (4 × 64 keys): below that, the prologue and the merge outweigh the gain.</summary>
    public const int MinKeyTilesPerSplit = 4;

    /// <summary>Grids of this many waves or more are never split (the tail wave is then a small part of the run).</summary>
    public const double MaxWavesToSplit = 2.5;

    /// <summary>A split count is good enough when its wave efficiency is at least this share of the best one's.</summary>
    public const double SplitEfficiencyShare = 0.85;

    /// <summary>
    /// Key splits for a flash grid of <paramref name="ctas"/> CTAs, <paramref name="ctasPerSm"/> resident per SM on
    /// <paramref name="multiprocessors"/> SMs, over <paramref name="sk"/> keys: 1 unless the grid is under
    /// <see cref="MaxWavesToSplit"/> waves (issue 16: "under ~2 waves"; FLUX's 25 % focus step is 2.2) and the keys give
    /// every split at least <see cref="MinKeyTilesPerSplit"/> tiles. Then, as FlashAttention-2's num_splits_heuristic
    /// (Dao-AILab/flash-attention, csrc/flash_attn/flash_api.cpp, read, not copied): the wave efficiency of n splits is
    /// w / ceil(w) with w = n·ctas / (SMs·ctasPerSm) (the share of the last wave's slots that do work); the answer is the
    /// smallest n whose efficiency is at least <see cref="SplitEfficiencyShare"/> of the best over n ≤ <see cref="MaxKvSplits"/>
    /// — more splits add partial traffic and merge work for little gain.
    /// </summary>
    public static int ChooseKvSplits(long ctas, int ctasPerSm, int sk, int multiprocessors)
    {
        long slots = (long)ctasPerSm * multiprocessors;
        int tiles = (int)LaunchConfig.CeilDiv(sk, BlockN);
        int most = Math.Min(MaxKvSplits, tiles / MinKeyTilesPerSplit);
        if (slots <= 0 || ctas <= 0 || most < 2 || ctas >= MaxWavesToSplit * slots)
            return 1;
        double Efficiency(int n)
        {
            double waves = (double)n * ctas / slots;
            return waves / Math.Ceiling(waves);
        }
        double best = Enumerable.Range(1, most).Max(Efficiency);
        return Enumerable.Range(1, most).First(n => Efficiency(n) >= SplitEfficiencyShare * best);
    }

    /// <summary>
    /// Number of K/V tiles the CTA owning queries [q0, q0 + blockM) visits: all ceil(Sk / 64) of them, or under
    /// causal masking (query i sees keys j ≤ i + Sk − Sq) only those up to the tile holding the last key
    /// visible to the CTA's last query; 0 when no query of the CTA sees any key (rows written as zeros).
    /// Same formula as attention.cu.
    /// </summary>
    public static int KeyTiles(int q0, int blockM, int sq, int sk, bool causal)
    {
        int tiles = (int)LaunchConfig.CeilDiv(sk, BlockN);
        if (causal)
        {
            int lastKey = Math.Min(q0 + blockM, sq) - 1 + (sk - sq);
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
