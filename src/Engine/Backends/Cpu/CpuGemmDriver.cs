using System.Buffers;
using System.Runtime.CompilerServices;

namespace AccelAes.Engine.Backends.Cpu;

/// <summary>
/// Cache-blocking sizes of the packed GEMM, in elements. KC depends only on the problem shape, never on the
/// thread count, so every element of C is summed in the same order however the work is split.
/// </summary>
/// <param name="KC">Depth of a packed block. A k-block's sums are finished in registers and folded into C
/// by one FMA, so KC also fixes the summation order.</param>
/// <param name="MC">Rows of A packed at once (the L3 block; rounded to whole MR panels).</param>
/// <param name="NC">Columns of B packed at once (the L2 block; rounded to whole NR panels).</param>
internal readonly record struct GemmBlocking(int KC, int MC, int NC)
{
    /// <summary>
    /// Sizes measured on the 2.5 GHz Xeon (32 KiB L1d, 1 MiB L2 per core) with the 14×32 kernel, BLIS-style:
    /// one 14-row A micro-panel (14·KC·4 = 14 KiB) stays in L1 while the 32-wide B micro-panels of the packed
    /// B block (KC·NC·4 = 256 KiB) stream from L2, and the packed A block (up to MC·KC·4 = 4 MiB) sits in
    /// L3. MC is large because each A block re-packs all of B, and transposing a Linear weight costs about
    /// as much per element as a 14-row tile's worth of FMAs. KC = 384 ran as fast as 256 but leaves L1
    /// less room; NC = 512 and 1024 were 2-8 % slower than 256 at 1024³.
    /// </summary>
    public static GemmBlocking Default { get; } = new(KC: 256, MC: 4096, NC: 256);
}

/// <summary>
/// The GotoBLAS/BLIS loop nest around a micro-kernel, and the split of C into independent blocks for
/// <see cref="Parallel.For(int, int, Action{int})"/>. Each task packs its own operands, so tasks never
/// wait for one another.
/// </summary>
internal static unsafe class CpuGemmDriver
{
    /// <summary>
    /// Below this many multiply-adds a call stays on the calling thread: starting Parallel.For costs a few
    /// microseconds, about what ~2M multiply-adds take on one core at ~100 GFLOP/s.
    /// </summary>
    public const long ParallelThreshold = 1L << 21;

    /// <summary>A task is not made smaller than this (same reasoning as <see cref="ParallelThreshold"/>).</summary>
    public const long MinWorkPerTask = 1L << 20;

    /// <summary>Packed buffers are aligned to a cache line so that zmm loads never split lines.</summary>
    private const int Alignment = 64;

    public static void Run<TKernel>(in GemmProblem problem, GemmBlocking blocking, int maxTasks)
        where TKernel : struct, IGemmMicroKernel
    {
        int mr = TKernel.MR, nr = TKernel.NR;
        int tilesM = (problem.M + mr - 1) / mr;
        int tilesN = (problem.N + nr - 1) / nr;
        int tasks = CpuGemmPartition.TaskCount(problem.MultiplyAdds, maxTasks, (long)tilesM * tilesN);
        (int partsM, int partsN) = CpuGemmPartition.Grid(tasks, tilesM, tilesN, problem.M, problem.N);
        if (partsM * partsN == 1)
        {
            RunBlock<TKernel>(problem, blocking, 0, problem.M, 0, problem.N);
            return;
        }

        GemmProblem p = problem;
        Parallel.For(0, partsM * partsN, t =>
        {
            (int m0, int m1) = CpuGemmPartition.Range(t / partsN, partsM, tilesM, mr, p.M);
            (int n0, int n1) = CpuGemmPartition.Range(t % partsN, partsN, tilesN, nr, p.N);
            RunBlock<TKernel>(p, blocking, m0, m1, n0, n1);
        });
    }

    /// <summary>Computes C rows [m0, m1) × columns [n0, n1) completely (all of K).</summary>
    private static void RunBlock<TKernel>(in GemmProblem p, GemmBlocking blocking, int m0, int m1, int n0, int n1)
        where TKernel : struct, IGemmMicroKernel
    {
        int mr = TKernel.MR, nr = TKernel.NR;
        int kcStep = BalancedStep(p.K, blocking.KC);
        int mcStep = RoundUp(BalancedStep(m1 - m0, Math.Max(mr, blocking.MC / mr * mr)), mr);
        int ncStep = Math.Max(nr, blocking.NC / nr * nr);
        int ncMax = Math.Min(ncStep, RoundUp(n1 - n0, nr));

        float[] aBuffer = ArrayPool<float>.Shared.Rent((mcStep * kcStep) + CpuGemmPacking.Slack + (Alignment / sizeof(float)));
        float[] bBuffer = ArrayPool<float>.Shared.Rent((ncMax * kcStep) + CpuGemmPacking.Slack + (Alignment / sizeof(float)));
        float* scratch = stackalloc float[mr * nr];
        try
        {
            fixed (float* aRaw = aBuffer, bRaw = bBuffer)
            {
                float* packedA = AlignUp(aRaw);
                float* packedB = AlignUp(bRaw);
                for (int ic = m0; ic < m1; ic += mcStep)
                {
                    int mc = Math.Min(mcStep, m1 - ic);
                    for (int pc = 0; pc < p.K; pc += kcStep)
                    {
                        int kc = Math.Min(kcStep, p.K - pc);
                        bool firstBlock = pc == 0;
                        CpuGemmPacking.PackA(p.A + ic * p.Lda + pc, p.Lda, mc, kc, mr, packedA);
                        for (int jc = n0; jc < n1; jc += ncStep)
                        {
                            int nc = Math.Min(ncStep, n1 - jc);
                            if (p.BLayout == GemmBLayout.KMajor)
                            {
                                CpuGemmPacking.PackBKMajor(p.BAt(pc, jc), p.Ldb, kc, nc, nr, packedB);
                            }
                            else
                            {
                                CpuGemmPacking.PackBNMajor(p.BAt(pc, jc), p.Ldb, kc, nc, nr, packedB);
                            }

                            MacroKernel<TKernel>(p, kc, packedA, mc, packedB, nc, ic, jc, firstBlock, scratch);
                        }
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(aBuffer);
            ArrayPool<float>.Shared.Return(bBuffer);
        }
    }

    /// <summary>
    /// All micro-tiles of one packed A block (mc × kc) against one packed B block (kc × nc). The A micro-panel
    /// is the outer loop so that it stays in L1 while the B micro-panels stream from L2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MacroKernel<TKernel>(
        in GemmProblem p, int kc, float* packedA, int mc, float* packedB, int nc, int ic, int jc,
        bool firstBlock, float* scratch)
        where TKernel : struct, IGemmMicroKernel
    {
        int mr = TKernel.MR, nr = TKernel.NR;
        bool loadC = p.Accumulate || !firstBlock;
        var raw = new GemmEpilogue(1f, null, loadC: false, raw: true);
        for (int ir = 0; ir < mc; ir += mr)
        {
            int rows = Math.Min(mr, mc - ir);
            float* a = packedA + (nint)ir * kc;
            for (int jr = 0; jr < nc; jr += nr)
            {
                int cols = Math.Min(nr, nc - jr);
                float* b = packedB + (nint)jr * kc;
                float* bias = firstBlock && p.Bias != null ? p.Bias + jc + jr : null;
                float* c = p.C + (ic + ir) * p.Ldc + jc + jr;
                if (rows == mr && cols == nr)
                {
                    TKernel.Tile(kc, a, b, c, p.Ldc, new GemmEpilogue(p.Alpha, bias, loadC, raw: false));
                }
                else
                {
                    // Edge tile: the same kernel (so the same sums) into a scratch tile, then the scalar
                    // form of the same epilogue on the part that lies inside C.
                    TKernel.Tile(kc, a, b, scratch, nr, raw);
                    for (int r = 0; r < rows; r++)
                    {
                        float* cRow = c + r * p.Ldc;
                        float* sRow = scratch + r * nr;
                        for (int j = 0; j < cols; j++)
                        {
                            cRow[j] = GemmEpilogue.Apply(p.Alpha, sRow[j], cRow[j], loadC, bias, j);
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// The step that splits <paramref name="total"/> into the fewest blocks of at most <paramref name="max"/>,
    /// as equal as possible (rounded up to 8 when that stays within max), so that k = 300 runs as 2 × 152
    /// rather than 256 + 44.
    /// </summary>
    public static int BalancedStep(int total, int max)
    {
        if (total <= max)
        {
            return Math.Max(total, 1);
        }

        int blocks = (total + max - 1) / max;
        int step = (total + blocks - 1) / blocks;
        return Math.Min(max, RoundUp(step, 8));
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    private static float* AlignUp(float* p) => (float*)(((nint)p + (Alignment - 1)) & ~(nint)(Alignment - 1));
}
