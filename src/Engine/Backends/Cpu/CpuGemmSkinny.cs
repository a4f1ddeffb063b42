using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AccelAes.Engine.Backends.Cpu;

/// <summary>
/// GEMMs with only a few rows of A (the adaLN modulation Linear on a couple of conditioning vectors,
/// single-query attention). They are memory-bound on B: every element of B is used by ≤ <see cref="MaxRows"/>
/// multiply-adds, so packing B (a full extra read and write of it) would cost more than the arithmetic.
/// These kernels stream B exactly once, straight from the caller's memory.
/// </summary>
internal static unsafe class CpuGemmSkinny
{
    /// <summary>
    /// Largest m routed here. Measured on the 2.5 GHz Xeon, (m, 9216, 1536) Linear: the packed path only
    /// catches up once its transpose-packing of B is amortised over more rows than this.
    /// </summary>
    public const int MaxRows = 4;

    /// <summary>Columns per pass of <see cref="AxpyColumns"/>: 4 rows × 512 sums = 8 KiB stays in L1.</summary>
    private const int AxpyWidth = 512;

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
        for (int i0 = 0; i0 < p.M; i0 += 4)
        {
            int rows = Math.Min(4, p.M - i0);
            if (p.BLayout == GemmBLayout.NMajor)
            {
                DotColumns(p, i0, rows, n0, n1);
            }
            else
            {
                AxpyColumns(p, i0, rows, n0, n1);
            }
        }
    }

    /// <summary>
    /// B is [N, K]: C[i, j] is a dot product of two contiguous rows. Four rows of A against four rows of B
    /// at a time (16 zmm sums, 8 loads per 16 FMAs); each sum is reduced with <see cref="Vector512.Sum{T}"/>
    /// and the k % 16 tail is added by scalar FMAs in k order. Missing rows or columns of a 4×4 group
    /// repeat a valid one and are not stored, so an element's value never depends on its neighbours.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotColumns(in GemmProblem p, int i0, int rows, int n0, int n1)
    {
        int k = p.K;
        int kVec = k & ~15;
        float* a0 = p.A + i0 * p.Lda;
        float* a1 = rows > 1 ? a0 + p.Lda : a0;
        float* a2 = rows > 2 ? a0 + 2 * p.Lda : a0;
        float* a3 = rows > 3 ? a0 + 3 * p.Lda : a0;
        float* sums = stackalloc float[16];
        for (int j = n0; j < n1; j += 4)
        {
            int cols = Math.Min(4, n1 - j);
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

            sums[0] = Vector512.Sum(s00);
            sums[1] = Vector512.Sum(s01);
            sums[2] = Vector512.Sum(s02);
            sums[3] = Vector512.Sum(s03);
            sums[4] = Vector512.Sum(s10);
            sums[5] = Vector512.Sum(s11);
            sums[6] = Vector512.Sum(s12);
            sums[7] = Vector512.Sum(s13);
            sums[8] = Vector512.Sum(s20);
            sums[9] = Vector512.Sum(s21);
            sums[10] = Vector512.Sum(s22);
            sums[11] = Vector512.Sum(s23);
            sums[12] = Vector512.Sum(s30);
            sums[13] = Vector512.Sum(s31);
            sums[14] = Vector512.Sum(s32);
            sums[15] = Vector512.Sum(s33);

            for (int r = 0; r < rows; r++)
            {
                float* a = a0 + r * p.Lda;
                float* c = p.C + (i0 + r) * p.Ldc + j;
                for (int col = 0; col < cols; col++)
                {
                    float* b = b0 + col * p.Ldb;
                    float s = sums[r * 4 + col];
                    for (int kk = kVec; kk < k; kk++)
                    {
                        s = MathF.FusedMultiplyAdd(a[kk], b[kk], s);
                    }

                    c[col] = GemmEpilogue.Apply(p.Alpha, s, c[col], p.Accumulate, p.Bias == null ? null : p.Bias + j, col);
                }
            }
        }
    }

    /// <summary>
    /// B is [K, N]: each k adds A[i, k]·B[k, j0..j0+w) to a row of sums kept in L1, so B is read row segment
    /// by row segment (long contiguous runs the hardware prefetcher follows) instead of one cache line per
    /// page. Each sum is a chain of FMAs in k order starting from zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AxpyColumns(in GemmProblem p, int i0, int rows, int n0, int n1)
    {
        float* sums = stackalloc float[4 * AxpyWidth];
        float* s0 = sums, s1 = sums + AxpyWidth, s2 = sums + 2 * AxpyWidth, s3 = sums + 3 * AxpyWidth;
        float* a0 = p.A + i0 * p.Lda;
        nint lda1 = rows > 1 ? p.Lda : 0, lda2 = rows > 2 ? 2 * p.Lda : 0, lda3 = rows > 3 ? 3 * p.Lda : 0;
        for (int j0 = n0; j0 < n1; j0 += AxpyWidth)
        {
            int w = Math.Min(AxpyWidth, n1 - j0);
            int wVec = w & ~15;
            new Span<float>(sums, 4 * AxpyWidth).Clear();
            for (nint kk = 0; kk < p.K; kk++)
            {
                float* b = p.B + kk * p.Ldb + j0;
                float* a = a0 + kk;
                Vector512<float> x0 = Vector512.Create(a[0]);
                Vector512<float> x1 = Vector512.Create(a[lda1]);
                Vector512<float> x2 = Vector512.Create(a[lda2]);
                Vector512<float> x3 = Vector512.Create(a[lda3]);
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
                    s0[j] = MathF.FusedMultiplyAdd(a[0], b[j], s0[j]);
                    s1[j] = MathF.FusedMultiplyAdd(a[lda1], b[j], s1[j]);
                    s2[j] = MathF.FusedMultiplyAdd(a[lda2], b[j], s2[j]);
                    s3[j] = MathF.FusedMultiplyAdd(a[lda3], b[j], s3[j]);
                }
            }

            float* bias = p.Bias == null ? null : p.Bias + j0;
            for (int r = 0; r < rows; r++)
            {
                float* c = p.C + (i0 + r) * p.Ldc + j0;
                float* s = sums + r * AxpyWidth;
                for (int j = 0; j < w; j++)
                {
                    c[j] = GemmEpilogue.Apply(p.Alpha, s[j], c[j], p.Accumulate, bias, j);
                }
            }
        }
    }
}
