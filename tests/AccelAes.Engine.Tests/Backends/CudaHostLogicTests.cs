using AccelAes.Engine.Backends.Cuda;
using AccelAes.Kernels.Compilation;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>The CUDA backend's host-side logic, which needs no GPU: memory pool bookkeeping, the cuBLASLt layout
/// mappings, attention tiling, launch and chunk arithmetic, kernel signatures.</summary>
public class CudaHostLogicTests
{
    private sealed class FakeMemory : IDeviceMemory
    {
        private ulong _next = 0x1000_0000;
        public ulong Limit = ulong.MaxValue;
        public ulong Live;
        public readonly List<ulong> Freed = [];
        public int Syncs;

        public ulong TryAllocate(ulong bytes)
        {
            if (Live + bytes > Limit) return 0;
            Live += bytes;
            ulong a = _next;
            _next += (bytes + 255) / 256 * 256 + 256;
            return a;
        }

        public void Free(ulong address, ulong bytes)
        {
            Freed.Add(address);
            Live -= bytes;
        }

        public Exception OutOfMemory(ulong bytes, string? what) => new InvalidOperationException($"OOM {bytes} {what}");

        public void Synchronize() => Syncs++;
    }

    [Theory]
    [InlineData(0UL, 512UL)]
    [InlineData(1UL, 512UL)]
    [InlineData(512UL, 512UL)]
    [InlineData(513UL, 640UL)]
    [InlineData(1024UL, 1024UL)]
    [InlineData(1025UL, 1280UL)]
    [InlineData(1536UL, 1536UL)]
    [InlineData(3_000_000UL, 3_145_728UL)]  // 2^21 · 1.5
    [InlineData(1UL << 30, 1UL << 30)]
    [InlineData((1UL << 30) + 1, (1UL << 30) + (1UL << 28))]
    public void SizeClass_RoundsUpToQuarterSteps(ulong bytes, ulong expected)
    {
        Assert.Equal(expected, DeviceMemoryPool.SizeClass(bytes));
    }

    [Fact]
    public void SizeClass_WastesAtMostAQuarter_AndIsMonotonic()
    {
        ulong previous = 0;
        for (ulong b = 1; b < 1 << 22; b = b * 9 / 8 + 1)
        {
            ulong c = DeviceMemoryPool.SizeClass(b);
            Assert.True(c >= b);
            Assert.True(c >= previous);
            if (b > 512) Assert.True(c - b < b / 4 + 1, $"{b} → {c}");
            previous = c;
        }
    }

    [Fact]
    public void Pool_ReusesReturnedBlocks_LastInFirstOut_PerSizeClass()
    {
        var mem = new FakeMemory();
        using var pool = new DeviceMemoryPool(mem);
        var a = pool.Rent(1000);
        var b = pool.Rent(1000);
        var c = pool.Rent(5000);
        pool.Return(a);
        pool.Return(b);
        Assert.Equal(b.Address, pool.Rent(900).Address);  // same class (1024), most recent first
        Assert.Equal(a.Address, pool.Rent(1024).Address);
        var d = pool.Rent(1000);                            // nothing cached: a new block
        Assert.NotEqual(a.Address, d.Address);
        var s = pool.Statistics;
        Assert.Equal(4, s.DeviceAllocations);
        Assert.Equal(2, s.Reuses);
        Assert.Equal(3 * 1024UL + 5120, s.BytesInUse);
        pool.Return(c);
        Assert.Equal(5120UL, pool.Statistics.BytesCached);
        Assert.Throws<InvalidOperationException>(() => pool.Return(c)); // twice
    }

    [Fact]
    public void Pool_SameSequence_ReturnedInReverse_GivesSameAddresses()
    {
        var mem = new FakeMemory();
        using var pool = new DeviceMemoryPool(mem);
        ulong[] Step()
        {
            var x = pool.Rent(4096);
            var y = pool.Rent(100_000);
            var z = pool.Rent(4096);
            pool.Return(z); // reverse order of creation, as a TensorScope closes
            pool.Return(y);
            pool.Return(x);
            return [x.Address, y.Address, z.Address];
        }
        var first = Step();
        Assert.Equal(first, Step()); // identical addresses every step: what CUDA-graph replay needs
        Assert.Equal(first, Step());
        Assert.Equal(3, pool.Statistics.DeviceAllocations);
    }

    [Fact]
    public void Pool_OnOutOfMemory_Reclaims_ThenTrims_ThenThrows()
    {
        var mem = new FakeMemory { Limit = 3100 };
        int reclaims = 0;
        DeviceMemoryPool? pool = null;
        PoolBlock? orphan = null;
        pool = new DeviceMemoryPool(mem, () =>
        {
            reclaims++;
            if (orphan is { } o) pool!.ReturnFromAnyThread(o); // what a finalizer would do
            orphan = null;
        });
        var a = pool.Rent(1024);
        orphan = pool.Rent(1024);
        var c = pool.Rent(600); // class 640; 2688 live
        pool.Return(c);
        // 2048 (class) does not fit: reclaim returns the orphan (1024, wrong class), trim frees the cached blocks, retry fits.
        var big = pool.Rent(2000);
        Assert.Equal(1, reclaims);
        Assert.Equal(2048UL + 1024, mem.Live);
        Assert.True(mem.Syncs > 0, "trim waits for the device before freeing");
        Assert.Equal(1, pool.Statistics.Trims);
        var e = Assert.Throws<InvalidOperationException>(() => pool.Rent(5000, "test tensor"));
        Assert.Contains("test tensor", e.Message);
        pool.Return(a);
        pool.Return(big);
        pool.Dispose();
        Assert.Equal(0UL, mem.Live);
    }

    [Fact]
    public void Pool_ReclaimsAfterTheThreshold_OfFreshAllocations()
    {
        var mem = new FakeMemory();
        int reclaims = 0;
        using var pool = new DeviceMemoryPool(mem, () => reclaims++, reclaimThresholdBytes: 10_000);
        for (int i = 0; i < 9; i++) pool.Rent(1024);
        Assert.Equal(0, reclaims);
        pool.Rent(1024);
        pool.Rent(1024);
        Assert.Equal(1, reclaims);
    }

    [Fact]
    public void Pool_FinalizerReturns_AreMergedOnTheNextRent()
    {
        var mem = new FakeMemory();
        using var pool = new DeviceMemoryPool(mem);
        var a = pool.Rent(2048);
        var t = new Thread(() => pool.ReturnFromAnyThread(a));
        t.Start();
        t.Join();
        Assert.Equal(a.Address, pool.Rent(2048).Address);
        Assert.Equal(1, pool.Statistics.DeviceAllocations);
    }

    // ---- cuBLASLt mappings --------------------------------------------------------------------------

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 5, 7)]
    [InlineData(37, 24, 40)]
    [InlineData(8, 16, 3)]
    public void LinearMapping_ComputesTheRowMajorProduct_WithTheWeightTransposed(int m, int n, int k)
    {
        var rng = new Random(m * 100 + n * 10 + k);
        float[] x = Enumerable.Range(0, m * k).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray(); // [m, k]
        float[] w = Enumerable.Range(0, n * k).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray(); // [n, k]
        var g = GemmMapping.ForLinear(m, n, k);
        Assert.True(g.IsConsistent);
        var y = new float[m * n];
        g.Evaluate(w, x, y); // A = weight buffer, B = input buffer, D = output buffer
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double expected = 0;
                for (int p = 0; p < k; p++) expected += (double)x[i * k + p] * w[j * k + p];
                Assert.Equal(expected, y[i * n + j], 5);
            }
        // The bias epilogue adds a vector of length rows(D), which must be the N output features.
        Assert.Equal((ulong)n, g.DRows);
    }

    [Theory]
    [InlineData(4, 9, 27)]
    [InlineData(1, 1, 1)]
    [InlineData(6, 16, 5)]
    public void ConvChunkMapping_ComputesWeightTimesCol(int cout, int nc, int k)
    {
        var rng = new Random(cout + nc + k);
        float[] w = Enumerable.Range(0, cout * k).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();  // [cout, k]
        float[] col = Enumerable.Range(0, k * nc).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray(); // [k, nc]
        var g = GemmMapping.ForConvChunk(cout, nc, k);
        Assert.True(g.IsConsistent);
        var t = new float[cout * nc];
        g.Evaluate(col, w, t); // A = col buffer, B = weight buffer, D = [cout, nc] row-major
        for (int co = 0; co < cout; co++)
            for (int j = 0; j < nc; j++)
            {
                double expected = 0;
                for (int p = 0; p < k; p++) expected += (double)w[co * k + p] * col[p * nc + j];
                Assert.Equal(expected, t[co * nc + j], 5);
            }
    }

    [Fact]
    public void Mapping_Consistency_CatchesAWrongLeadingDimension()
    {
        var g = GemmMapping.ForLinear(4, 6, 8) with { Lda = 4 };
        Assert.False(g.IsConsistent);
        Assert.False((GemmMapping.ForLinear(4, 6, 8) with { TransA = CublasOperation.N }).IsConsistent);
    }

    // ---- attention tiling ----------------------------------------------------------------------------

    [Theory]
    [InlineData(8, 8, 32)]
    [InlineData(32, 32, 32)]
    [InlineData(33, 33, 64)]
    [InlineData(64, 64, 64)]
    [InlineData(72, 72, 80)]
    [InlineData(80, 80, 80)]
    [InlineData(96, 96, 128)]
    [InlineData(128, 128, 128)]
    [InlineData(24, 40, 64)]
    public void FlashHeadDim_IsTheSmallestSpecialisationHoldingBoth(int d, int dv, int expected)
    {
        Assert.Equal(expected, AttentionPlan.FlashHeadDimFor(d, dv));
        foreach (var variant in FlashVariant.All)
        {
            var plan = AttentionPlan.Create(2, 100, 3, d, dv, AttentionPlanTests.Published["8.6"], variant: variant);
            Assert.Equal(AttentionKernel.Flash, plan.Kernel);
            Assert.Equal($"attention_fwd_d{expected}_{variant.Name}_bf16", plan.KernelName);
            Assert.Equal(((uint)(variant.BlockM == 64 ? 2 : 1), (uint)3, (uint)2), (plan.GridX, plan.GridY, plan.GridZ)); // ceil(100/BlockM), Hq, B
            Assert.Equal((uint)variant.Threads, plan.BlockThreads);
            Assert.Equal(512u * (uint)(expected + 8), plan.SharedBytes); // 2 stages × (K, V) × 64 rows of DP+8 bf16
            Assert.Contains(plan.KernelName, KernelCatalog.All.Select(k => k.Name));
        }
    }

    [Fact]
    public void HeadDimsAbove128_UseTheReferenceKernel_UpTo256()
    {
        var device = AttentionPlanTests.Published["8.0"];
        var plan = AttentionPlan.Create(1, 33, 2, 256, 256, device);
        Assert.Equal(AttentionKernel.Reference, plan.Kernel);
        Assert.Equal((uint)LaunchConfig.CeilDiv(33 * 2, 4), plan.GridX);
        Assert.Equal(128u, plan.BlockThreads);
        Assert.Contains(plan.KernelName, KernelCatalog.All.Select(k => k.Name));
        Assert.Throws<NotSupportedException>(() => AttentionPlan.Create(1, 1, 1, 257, 64, device));
        Assert.Equal(AttentionKernel.Reference, AttentionPlan.Create(1, 5, 1, 64, 64, device, forceReference: true).Kernel);
        var small = device with { SharedMemoryPerBlockOptin = 48 * 1024 };
        Assert.Equal(AttentionKernel.Reference, AttentionPlan.Create(1, 5, 1, 128, 128, small).Kernel);
        Assert.Throws<NotSupportedException>(() => AttentionPlan.Create(1, 5, 1, 128, 128, small, variant: FlashVariant.M128));
    }

    [Theory]
    [InlineData(0, 64, 100, 100, false, 2)]
    [InlineData(0, 64, 100, 100, true, 1)]     // last query 63 sees keys ≤ 63
    [InlineData(64, 64, 100, 100, true, 2)]
    [InlineData(0, 128, 100, 100, true, 2)]    // 128 rows: last query 99 sees keys ≤ 99
    [InlineData(0, 64, 40, 20, true, 1)]       // Sk < Sq: queries 0..39 see keys ≤ i − 20, i.e. up to 19: tile 0 only
    [InlineData(0, 64, 90, 20, true, 0)]       // queries 0..63 see keys ≤ 63 − 70 < 0: nothing
    [InlineData(64, 64, 90, 20, true, 1)]
    [InlineData(0, 128, 90, 20, true, 1)]      // queries 0..89 of a 128-row CTA: up to key 19
    [InlineData(0, 128, 200, 20, true, 0)]     // queries 0..127 see keys ≤ 127 − 180 < 0: nothing
    [InlineData(0, 64, 1, 513, true, 9)]       // one query at the end sees everything
    [InlineData(0, 64, 1, 513, false, 9)]
    [InlineData(0, 64, 5, 0, false, 0)]
    public void KeyTiles_VisitOnlyTilesWithVisibleKeys(int q0, int blockM, int sq, int sk, bool causal, int expected)
    {
        Assert.Equal(expected, AttentionPlan.KeyTiles(q0, blockM, sq, sk, causal));
    }

    [Fact]
    public void KeyTiles_AreExactlyTheTilesHoldingAVisibleKey_ByBruteForce()
    {
        foreach (int blockM in FlashVariant.All.Select(v => v.BlockM))
            foreach (int sq in new[] { 1, 17, 64, 65, 130, 257 })
                foreach (int sk in new[] { 1, 20, 64, 65, 200 })
                    for (int q0 = 0; q0 < sq; q0 += blockM)
                    {
                        int lastVisible = -1;
                        for (int i = q0; i < Math.Min(q0 + blockM, sq); i++)
                            lastVisible = Math.Max(lastVisible, Math.Min(sk - 1, i + sk - sq));
                        int expected = lastVisible < 0 ? 0 : lastVisible / 64 + 1;
                        Assert.Equal(expected, AttentionPlan.KeyTiles(q0, blockM, sq, sk, causal: true));
                        for (int t = 0; t < expected; t++)
                        {
                            bool anyMasked = false;
                            for (int i = q0; i < Math.Min(q0 + blockM, sq); i++)
                                for (int j = t * 64; j < t * 64 + 64; j++)
                                    anyMasked |= j >= sk || j > i + sk - sq;
                            if (anyMasked) Assert.True(AttentionPlan.TileNeedsMask(t, q0, sq, sk, causal: true, hasKeyMask: false), $"M {blockM} sq {sq} sk {sk} q0 {q0} tile {t}");
                        }
                    }
    }

    // ---- launch and chunk arithmetic ----------------------------------------------------------------

    [Theory]
    [InlineData(0UL, 0u)]
    [InlineData(1UL, 1u)]
    [InlineData(256UL, 1u)]
    [InlineData(257UL, 2u)]
    [InlineData(1UL << 40, 65536u)]
    public void GridStrideBlocks_CoverOnceAndAreCapped(ulong n, uint expected) =>
        Assert.Equal(expected, LaunchConfig.GridStrideBlocks(n));

    [Theory]
    [InlineData(1, 1, 32)]
    [InlineData(40, 1, 64)]
    [InlineData(1536, 8, 192)]
    [InlineData(4100, 1, 256)]
    [InlineData(8, 8, 32)]
    public void RowBlock_IsAWholeNumberOfWarps(int d, int perThread, int expected)
    {
        int block = LaunchConfig.RowBlock(d, perThread);
        Assert.Equal(expected, block);
        Assert.Equal(0, block % 32);
    }

    [Theory]
    [InlineData(1152, 128, 1 << 20, 256UL << 20, 95320)]  // 128-channel 3×3 conv at 1024²: 2816 B per column, chunked to a multiple of 8
    [InlineData(27, 5, 99, 256UL << 20, 99)]              // small: one chunk
    [InlineData(1000, 10, 100, 1000UL, 1)]                // budget below one column: still makes progress
    public void ConvChunkColumns_FitTheBudget(int k, int cout, int n, ulong budget, int expected)
    {
        int nc = CudaBackend.ConvChunkColumns(k, cout, n, budget);
        Assert.Equal(expected, nc);
        Assert.InRange(nc, 1, n);
        if (nc < n && nc > 8) Assert.Equal(0, nc % 8);
    }

    [Fact]
    public void KernelArgs_PutFourByteValuesInTheLowHalf()
    {
        Assert.Equal(0xFFFF_FFFFUL, ((KernelArg)(-1)).Bits);
        Assert.Equal((ulong)BitConverter.SingleToUInt32Bits(1.5f), ((KernelArg)1.5f).Bits);
        Assert.Equal(0xFFFF_FFFF_FFFF_FFFFUL, ((KernelArg)(-1L)).Bits);
        Assert.Equal(0x1234UL, ((KernelArg)new CuDevicePtr(0x1234)).Bits);
        Assert.Equal(1UL, ((KernelArg)true).Bits);
    }

    [Fact]
    public void KernelSignatures_AreReadForEveryKernel()
    {
        foreach (var k in KernelCatalog.All)
        {
            var widths = KernelSignature.Widths(k.Name);
            Assert.NotEmpty(widths);
            Assert.All(widths, w => Assert.True(w is 4 or 8));
        }
        Assert.Equal([8, 8, 8, 8, 8, 8, 8, 8, 8, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 8, 4, 4, 4], KernelSignature.Widths("attention_ref_bf16"));
        Assert.Equal([8, 8, 8, 8], KernelSignature.Widths("add_bf16"));
        Assert.Equal([8, 8, 8, 8, 4, 4, 4, 8, 8, 8, 8, 8, 8, 4, 4, 4], KernelSignature.Widths("gemm_bf16"));
    }
}
