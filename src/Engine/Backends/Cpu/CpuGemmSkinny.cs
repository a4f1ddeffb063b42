using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AccelAes.Engine.Backends.Cpu;

/// <summary>
/// GEMMs with only a few rows of A (the adaLN modulation Linear on a couple of conditioning vectors,
/// single-query attention). They are memory-bound on B: every element of B is used by only a
/// few multiply-adds, so packing B (an extra read and write of all of it, a transpose for
/// a Linear weight) would cost more than the arithmetic. These kernels read B once, straight from the
/// caller's memory, and reuse each piece of it for every row of A while it is in L1.
/// </summary>
internal static unsafe class CpuGemmSkinny
{
    /// <summary>
    /// Whether a problem is better served here than by the packed path. Measured on the 2.5 GHz Xeon with
    /// (m, 9216, 1536), (m, 1536, 256) and (m, 256, 64): for B = [N, K] the packed path, which must
    /// transpose all of B and pads m to 14 rows, only wins from m ≈ 16 when B fits in L2/L3, and not below
    /// m = 32 when B has to come from DRAM (≥ 4 MiB); for B = [K, N], whose packing is a plain copy, from
    /// m ≈ 8.
    /// </summary>
    public static bool Suits(in GemmProblem p) => p.BLayout == GemmBLayout.NMajor
        ? p.M <= 12 || (p.M <= 32 && (long)p.N * p.K >= 1L << 20)
        : p.M <= 8;

    /// <summary>Floats of running sums <see cref="AxpyColumns"/> keeps (16 KiB: half of L1).</summary>
    private const int AxpySums = 4096;

    public static bool IsSupported => Avx512F.IsSupported;

    public static void Run(in GemmProblem problem, int maxTasks)
    {
        const int columnTile = 64;
        int tiles = (problem.N + columnTile - 1) / columnTile;
        int tasks = CpuGemmPartition.TaskCount(problem.MultiplyAdds, maxTasks, tiles);
        if (tasks == 1)
        {
            Columns(problem, 0, problem.N);
            return;
        }

        GemmProblem p = problem;
        Parallel.For(0, tasks, t =>
        {
            (int n0, int n1) = CpuGemmPartition.Range(t, tasks, tiles, columnTile, p.N);
            Columns(p, n0, n1);
        });
    }

    private static void Columns(in GemmProblem p, int n0, int n1)
    {
        if (p.BLayout == GemmBLayout.NMajor)
        {
            DotColumns(p, n0, n1);
        }
        else
        {
            AxpyColumns(p, n0, n1);
        }
    }

    /// <summary>
    /// B is [N, K]: C[i, j] is a dot product of two contiguous rows. Four rows of A against four rows of B
    /// at a time (16 zmm sums, 8 loads per 16 FMAs); the 16 sums are reduced together by
    /// <see cref="ReduceSixteen"/> and the k % 16 tail is added by FMAs in k order. Missing rows or columns
    /// of a 4×4 group repeat a valid one and are not stored, so an element's value never depends on its
    /// neighbours (nor on where a task's column range starts).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotColumns(in GemmProblem p, int n0, int n1)
    {
        for (int j = n0; j < n1; j += 4)
        {
            // Four rows of B, then every group of four rows of A against them (B stays in L1/L2).
            for (int i0 = 0; i0 < p.M; i0 += 4)
            {
                DotBlock(p, i0, Math.Min(4, p.M - i0), j, Math.Min(4, n1 - j));
            }
        }
    }

    /// <summary>C[i0..i0+rows, j..j+cols] for rows, cols ≤ 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotBlock(in GemmProblem p, int i0, int rows, int j, int cols)
    {
        int k = p.K;
        int kVec = k & ~15;
        float* a0 = p.A + i0 * p.Lda;
        float* a1 = rows > 1 ? a0 + p.Lda : a0;
        float* a2 = rows > 2 ? a0 + 2 * p.Lda : a0;
        float* a3 = rows > 3 ? a0 + 3 * p.Lda : a0;
        Vector128<float> alpha = Vector128.Create(p.Alpha);
        float* b0 = p.B + j * p.Ldb;
        float* b1 = cols > 1 ? b0 + p.Ldb : b0;
        float* b2 = cols > 2 ? b0 + 2 * p.Ldb : b0;
        float* b3 = cols > 3 ? b0 + 3 * p.Ldb : b0;

        Vector512<float> s00 = default, s01 = default, s02 = default, s03 = default;
        Vector512<float> s10 = default, s11 = default, s12 = default, s13 = default;
        Vector512<float> s20 = default, s21 = default, s22 = default, s23 = default;
        Vector512<float> s30 = default, s31 = default, s32 = default, s33 = default;
        for (nint kk = 0; kk < kVec; kk += 16)
        {
            Vector512<float> vb0 = Vector512.Load(b0 + kk);
            Vector512<float> vb1 = Vector512.Load(b1 + kk);
            Vector512<float> vb2 = Vector512.Load(b2 + kk);
            Vector512<float> vb3 = Vector512.Load(b3 + kk);
            Vector512<float> va = Vector512.Load(a0 + kk);
            s00 = Vector512.FusedMultiplyAdd(va, vb0, s00);
            s01 = Vector512.FusedMultiplyAdd(va, vb1, s01);
            s02 = Vector512.FusedMultiplyAdd(va, vb2, s02);
            s03 = Vector512.FusedMultiplyAdd(va, vb3, s03);
            va = Vector512.Load(a1 + kk);
            s10 = Vector512.FusedMultiplyAdd(va, vb0, s10);
            s11 = Vector512.FusedMultiplyAdd(va, vb1, s11);
            s12 = Vector512.FusedMultiplyAdd(va, vb2, s12);
            s13 = Vector512.FusedMultiplyAdd(va, vb3, s13);
            va = Vector512.Load(a2 + kk);
            s20 = Vector512.FusedMultiplyAdd(va, vb0, s20);
            s21 = Vector512.FusedMultiplyAdd(va, vb1, s21);
            s22 = Vector512.FusedMultiplyAdd(va, vb2, s22);
            s23 = Vector512.FusedMultiplyAdd(va, vb3, s23);
            va = Vector512.Load(a3 + kk);
            s30 = Vector512.FusedMultiplyAdd(va, vb0, s30);
            s31 = Vector512.FusedMultiplyAdd(va, vb1, s31);
            s32 = Vector512.FusedMultiplyAdd(va, vb2, s32);
            s33 = Vector512.FusedMultiplyAdd(va, vb3, s33);
        }

        // 128-bit lane r of the reduction holds row r's four sums (columns j..j+3).
        Vector512<float> reduced = ReduceSixteen(
            ReduceFour(s00, s01, s02, s03), ReduceFour(s10, s11, s12, s13),
            ReduceFour(s20, s21, s22, s23), ReduceFour(s30, s31, s32, s33));
        Vector128<float> r0 = reduced.GetLower().GetLower(), r1 = reduced.GetLower().GetUpper();
        Vector128<float> r2 = reduced.GetUpper().GetLower(), r3 = reduced.GetUpper().GetUpper();
        for (int kk = kVec; kk < k; kk++)
        {
            var bk = Vector128.Create(b0[kk], b1[kk], b2[kk], b3[kk]);
            r0 = Vector128.FusedMultiplyAdd(Vector128.Create(a0[kk]), bk, r0);
            r1 = Vector128.FusedMultiplyAdd(Vector128.Create(a1[kk]), bk, r1);
            r2 = Vector128.FusedMultiplyAdd(Vector128.Create(a2[kk]), bk, r2);
            r3 = Vector128.FusedMultiplyAdd(Vector128.Create(a3[kk]), bk, r3);
        }

        float* bias = p.Bias == null ? null : p.Bias + j;
        float* c = p.C + i0 * p.Ldc + j;
        StoreFour(c, cols, r0, alpha, p.Accumulate, bias);
        if (rows > 1)
        {
            StoreFour(c + p.Ldc, cols, r1, alpha, p.Accumulate, bias);
        }

        if (rows > 2)
        {
            StoreFour(c + 2 * p.Ldc, cols, r2, alpha, p.Accumulate, bias);
        }

        if (rows > 3)
        {
            StoreFour(c + 3 * p.Ldc, cols, r3, alpha, p.Accumulate, bias);
        }
    }

    /// <summary>
    /// Partial horizontal sums of four vectors: 128-bit lane q of the result holds, for each source i,
    /// the sum of source i's four floats in lane q (32-bit then 64-bit interleave, each followed by an add).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ReduceFour(Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3)
    {
        Vector512<float> w01 = Avx512F.UnpackLow(v0, v1) + Avx512F.UnpackHigh(v0, v1);
        Vector512<float> w23 = Avx512F.UnpackLow(v2, v3) + Avx512F.UnpackHigh(v2, v3);
        Vector512<double> x = w01.AsDouble(), y = w23.AsDouble();
        return Avx512F.UnpackLow(x, y).AsSingle() + Avx512F.UnpackHigh(x, y).AsSingle();
    }

    /// <summary>
    /// Finishes four <see cref="ReduceFour"/> results: 128-bit lane g of the result is the totals of group g's
    /// four sources, by two rounds of 128-bit lane shuffles and adds (45 instructions for 16 sums, against
    /// ~8 per <see cref="Vector512.Sum{T}"/>, which dominated for short k).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ReduceSixteen(Vector512<float> g0, Vector512<float> g1, Vector512<float> g2, Vector512<float> g3)
    {
        // 0x88 selects 128-bit lanes (0, 2) of each source, 0xDD lanes (1, 3).
        Vector512<float> h01 = Avx512F.Shuffle4x128(g0, g1, 0x88) + Avx512F.Shuffle4x128(g0, g1, 0xDD);
        Vector512<float> h23 = Avx512F.Shuffle4x128(g2, g3, 0x88) + Avx512F.Shuffle4x128(g2, g3, 0xDD);
        return Avx512F.Shuffle4x128(h01, h23, 0x88) + Avx512F.Shuffle4x128(h01, h23, 0xDD);
    }

    /// <summary>The epilogue on up to four consecutive elements of a C row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreFour(float* c, int cols, Vector128<float> sums, Vector128<float> alpha, bool loadC, float* bias)
    {
        if (cols == 4)
        {
            Vector128<float> init = loadC ? Vector128.Load(c) : Vector128<float>.Zero;
            if (bias != null)
            {
                init += Vector128.Load(bias);
            }

            Vector128.Store(Vector128.FusedMultiplyAdd(alpha, sums, init), c);
            return;
        }

        for (int col = 0; col < cols; col++)
        {
            c[col] = GemmEpilogue.Apply(alpha.ToScalar(), sums.GetElement(col), c[col], loadC, bias, col);
        }
    }

    /// <summary>
    /// B is [K, N]: for a chunk of columns, each k adds A[i, k]·B[k, chunk] to rows of running sums kept in
    /// L1, for every row i, so B is read once, row segment by row segment (long contiguous runs, the next one
    /// prefetched) instead of one cache line per page. Each sum is a chain of FMAs in k order from zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AxpyColumns(in GemmProblem p, int n0, int n1)
    {
        int m = p.M;
        int groups = (m + 3) / 4;
        int width = Math.Max(16, AxpySums / (4 * groups) / 16 * 16);
        float* sums = stackalloc float[4 * groups * width];
        for (int j0 = n0; j0 < n1; j0 += width)
        {
            int w = Math.Min(width, n1 - j0);
            int wVec = w & ~15;
            new Span<float>(sums, 4 * groups * width).Clear();
            for (nint kk = 0; kk < p.K; kk++)
            {
                float* b = p.B + kk * p.Ldb + j0;
                if (kk + 1 < p.K)
                {
                    for (int j = 0; j < w; j += 16)
                    {
                        Sse.Prefetch0(b + p.Ldb + j);
                    }
                }

                for (int g = 0; g < groups; g++)
                {
                    AxpyGroup(p, g * 4, kk, b, w, wVec, sums + (g * 4 * width), width);
                }
            }

            float* bias = p.Bias == null ? null : p.Bias + j0;
            for (int r = 0; r < m; r++)
            {
                float* c = p.C + r * p.Ldc + j0;
                float* s = sums + r * width;
                for (int j = 0; j < w; j++)
                {
                    c[j] = GemmEpilogue.Apply(p.Alpha, s[j], c[j], p.Accumulate, bias, j);
                }
            }
        }
    }

    /// <summary>Rows i0..i0+3 of the running sums += A[i, k]·b (rows past m use row i0 and are never stored).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AxpyGroup(in GemmProblem p, int i0, nint kk, float* b, int w, int wVec, float* sums, int width)
    {
        int rows = Math.Min(4, p.M - i0);
        float* a = p.A + i0 * p.Lda + kk;
        float a0 = a[0];
        float a1 = rows > 1 ? a[p.Lda] : a0;
        float a2 = rows > 2 ? a[2 * p.Lda] : a0;
        float a3 = rows > 3 ? a[3 * p.Lda] : a0;
        float* s0 = sums, s1 = sums + width, s2 = sums + (2 * width), s3 = sums + (3 * width);
        Vector512<float> x0 = Vector512.Create(a0), x1 = Vector512.Create(a1);
        Vector512<float> x2 = Vector512.Create(a2), x3 = Vector512.Create(a3);
        for (nint j = 0; j < wVec; j += 16)
        {
            Vector512<float> vb = Vector512.Load(b + j);
            Vector512.Store(Vector512.FusedMultiplyAdd(x0, vb, Vector512.Load(s0 + j)), s0 + j);
            Vector512.Store(Vector512.FusedMultiplyAdd(x1, vb, Vector512.Load(s1 + j)), s1 + j);
            Vector512.Store(Vector512.FusedMultiplyAdd(x2, vb, Vector512.Load(s2 + j)), s2 + j);
            Vector512.Store(Vector512.FusedMultiplyAdd(x3, vb, Vector512.Load(s3 + j)), s3 + j);
        }

        for (int j = wVec; j < w; j++)
        {
            s0[j] = MathF.FusedMultiplyAdd(a0, b[j], s0[j]);
            s1[j] = MathF.FusedMultiplyAdd(a1, b[j], s1[j]);
            s2[j] = MathF.FusedMultiplyAdd(a2, b[j], s2[j]);
            s3[j] = MathF.FusedMultiplyAdd(a3, b[j], s3[j]);
        }
    }
}
