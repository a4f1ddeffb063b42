using AccelAes.Engine.Backends.Cuda;
using AccelAes.Kernels;
using AccelAes.Kernels.Compilation;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// The flash attention plan against the published limits of the GPUs the engine targets (CUDA C++ Programming Guide,
/// "Technical Specifications per Compute Capability"): the variant it picks must keep at least 8 warps resident per SM
/// at every head dim, so softmax, barriers and ldmatrix latency of one warp hide behind the others' tensor-core work.
/// Pure host arithmetic; no GPU.
/// </summary>
public class AttentionPlanTests(ITestOutputHelper output)
{
    /// <summary>
    /// Published per-compute-capability limits (per-block opt-in shared memory, shared memory per SM, 1 KiB reserved
    /// per CTA, threads, CTAs and 64 Ki registers per SM) with the SM count of a representative part: A100 (8.0),
    /// RTX 3090 (8.6), RTX 4090 (8.9), H100 SXM (9.0), RTX 5090 (12.0).
    /// </summary>
    public static readonly IReadOnlyDictionary<string, DeviceLimits> Published = new Dictionary<string, DeviceLimits>
    {
        ["8.0"] = new(108, 166_912, 167_936, 1024, 2048, 32, 65_536),
        ["8.6"] = new(82, 101_376, 102_400, 1024, 1536, 16, 65_536),
        ["8.9"] = new(128, 101_376, 102_400, 1024, 1536, 24, 65_536),
        ["9.0"] = new(132, 232_448, 233_472, 1024, 2048, 32, 65_536),
        ["12.0"] = new(170, 101_376, 102_400, 1024, 1536, 32, 65_536),
    };

    private static readonly int[] HeadDims = [32, 64, 72, 80, 128];

    /// <summary>A DiT-sized call: 4096 image tokens, 24 heads, CFG batch 2 (thousands of CTAs: occupancy is what counts).</summary>
    private static AttentionPlan PlanLarge(DeviceLimits device, int d) => AttentionPlan.Create(2, 4096, 24, d, d, device);

    /// <summary>Resident CTAs per SM counted one CTA at a time, independently of <see cref="Occupancy.Of"/>'s divisions.</summary>
    private static int CountResident(DeviceLimits device, int threads, long sharedBytes, int registersPerThread)
    {
        if (sharedBytes > device.SharedMemoryPerBlockOptin)
            return 0;
        int registersPerWarp = (int)Math.Ceiling(registersPerThread * 32 / 256.0) * 256;
        int n = 0;
        while (true)
        {
            int next = n + 1;
            bool fits = next * (sharedBytes + device.ReservedSharedMemoryPerBlock) <= device.SharedMemoryPerMultiprocessor
                        && next * threads <= device.MaxThreadsPerMultiprocessor
                        && next <= device.MaxBlocksPerMultiprocessor
                        && next * (threads / 32) * registersPerWarp <= device.RegistersPerMultiprocessor;
            if (!fits)
                return n;
            n = next;
        }
    }

    [Fact]
    public void EveryArchitectureAndHeadDim_KeepsAtLeastEightWarpsPerSm()
    {
        var failures = new List<string>();
        output.WriteLine("| CC | head dim (padded) | variant | BlockM | warps | BlockN | stages | shared B | CTAs/SM | warps/SM | bound by |");
        output.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var (cc, device) in Published)
            foreach (int d in HeadDims)
            {
                var plan = PlanLarge(device, d);
                Assert.Equal(AttentionKernel.Flash, plan.Kernel);
                var v = plan.Variant!;
                var occ = plan.Occupancy!;
                output.WriteLine($"| {cc} | {d} ({plan.PaddedHeadDim}) | {v.Name} | {v.BlockM} | {v.Warps} | {FlashVariant.BlockN} | {FlashVariant.Stages} | " +
                                 $"{plan.SharedBytes:N0} | {occ.CtasPerSm} | {occ.WarpsPerSm} | {occ.Limit} |");
                Assert.True(plan.SharedBytes <= device.SharedMemoryPerBlockOptin, $"{cc} d{d}: {plan.SharedBytes} B > opt-in");
                Assert.Equal(v.Threads, (int)plan.BlockThreads);
                Assert.Equal(v.KernelName(plan.PaddedHeadDim), plan.KernelName);
                // The plan's occupancy equals an independent count, at the most registers the kernel may use.
                int ctas = CountResident(device, v.Threads, plan.SharedBytes, v.MaxRegistersPerThread);
                Assert.Equal(ctas, occ.CtasPerSm);
                Assert.Equal(ctas * v.Warps, occ.WarpsPerSm);
                if (occ.WarpsPerSm < 8)
                    failures.Add($"{cc} d{d}: {v.Name} keeps {occ.WarpsPerSm} warps/SM ({occ.Limit})");
            }
        Assert.True(failures.Count == 0, string.Join("; ", failures));
    }

    [Fact]
    public void TheOldLayout_HeldOnlyFourWarps_At80And128_OnTheHundredKilobyteParts()
    {
        // Q [64] + K, V [2][64] rows of DP+8 bf16 in one 4-warp CTA: what attention.cu did before the variants.
        foreach (var cc in new[] { "8.6", "8.9", "12.0" })
            foreach (int dp in new[] { 80, 128 })
            {
                var old = Occupancy.Of(Published[cc], 128, (uint)(640 * (dp + 8)), 255);
                Assert.Equal((1, 4, "shared memory"), (old.CtasPerSm, old.WarpsPerSm, old.Limit)); // registers would allow 2
            }
        // ... and at 128 even on the A100: 2 × (87,040 + 1,024) B > 164 KiB.
        Assert.Equal(1, Occupancy.Of(Published["8.0"], 128, 640 * 136, 255).CtasPerSm);
        Assert.Equal(2, Occupancy.Of(Published["9.0"], 128, 640 * 136, 255).CtasPerSm);
    }

    [Fact]
    public void Occupancy_MatchesACountOneCtaAtATime()
    {
        var rng = new Random(7);
        for (int i = 0; i < 2000; i++)
        {
            var device = new DeviceLimits(rng.Next(1, 200), rng.Next(16, 240) * 1024, rng.Next(16, 240) * 1024, rng.Next(0, 2) * 1024,
                rng.Next(2, 65) * 32, rng.Next(1, 33), rng.Next(8, 129) * 1024);
            int threads = rng.Next(1, 33) * 32;
            uint shared = (uint)rng.Next(0, 120_000);
            int registers = rng.Next(16, 256);
            Assert.Equal(CountResident(device, threads, shared, registers), Occupancy.Of(device, threads, shared, registers).CtasPerSm);
        }
    }

    [Theory]
    [InlineData("8.0")]
    [InlineData("8.6")]
    [InlineData("8.9")]
    [InlineData("9.0")]
    [InlineData("12.0")]
    public void LargeGrids_Use128RowCtas_GridsSmallerThanTheSmCount_64RowCtas(string cc)
    {
        var device = Published[cc];
        foreach (int d in HeadDims)
        {
            Assert.Same(FlashVariant.M128, PlanLarge(device, d).Variant);
            // One head of 300 queries: 3 CTAs of 128 rows for ≥ 82 SMs; 64-row CTAs give 5.
            var small = AttentionPlan.Create(1, 300, 1, d, d, device);
            Assert.Same(FlashVariant.M64, small.Variant);
            Assert.Equal(5u, small.GridX);
            // Exactly as many 128-row CTAs as SMs: every SM already has one.
            int heads = device.MultiprocessorCount;
            Assert.Same(FlashVariant.M128, AttentionPlan.Create(1, 128, heads, d, d, device).Variant);
            Assert.Same(FlashVariant.M64, AttentionPlan.Create(1, 128, heads - 1, d, d, device).Variant);
        }
    }

    [Fact]
    public void AForcedVariant_IsUsedRegardlessOfTheShape()
    {
        foreach (var variant in FlashVariant.All)
            foreach (var shape in new[] { (1, 300, 1), (2, 4096, 24) })
            {
                var plan = AttentionPlan.Create(shape.Item1, shape.Item2, shape.Item3, 72, 72, Published["8.6"], variant: variant);
                Assert.Same(variant, plan.Variant);
                Assert.Equal("attention_fwd_d80_" + variant.Name + "_bf16", plan.KernelName);
                Assert.Equal((uint)LaunchConfig.CeilDiv(shape.Item2, variant.BlockM), plan.GridX);
            }
        Assert.Same(FlashVariant.M64, FlashVariant.Parse("m64"));
        Assert.Throws<ArgumentException>(() => FlashVariant.Parse("m256"));
    }

    [Fact]
    public void EveryVariantAndHeadDim_HasAnEntryPointInAttentionCu()
    {
        var entries = KernelCatalog.All.Where(k => k.SourceFile == "attention.cu").Select(k => k.Name).Order().ToArray();
        var planned = (from v in FlashVariant.All from dp in AttentionPlan.FlashHeadDims select v.KernelName(dp)).Order().ToArray();
        Assert.Equal(entries, planned);
    }
}
