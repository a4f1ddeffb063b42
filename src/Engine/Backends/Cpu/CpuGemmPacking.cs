using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AccelAes.Engine.Backends.Cpu;

/// <summary>
/// Copies blocks of A and B into the k-major micro-panel layouts the micro-kernels stream through
/// (see <see cref="IGemmMicroKernel"/>). A partial panel (fewer than MR rows / NR columns left) is padded to a
/// whole panel so that edge tiles run the same kernel; the padding lanes hold zeros or copies of a valid
/// row, and what they produce only ever lands in the driver's scratch tile, never in C.
/// </summary>
/// <remarks>
/// Packing A, and B of a Linear weight ([N, K]), is a transpose. A scalar transpose measured ~1 ns per
/// element here (2.5 cycles: one strided store each), i.e. ~10 % of a 1024³ multiply and half of a
/// (192, 64, 64) one, so with AVX-512 it goes through 16×16 register transposes instead.
/// </remarks>
internal static unsafe class CpuGemmPacking
{
    /// <summary>Floats a packed buffer needs beyond its panels (the 16-wide stores of <see cref="PackA"/> overhang).</summary>
    public const int Slack = 16;

    /// <summary>
    /// Packs rows [0, rows) × columns [0, kc) of row-major A (row stride <paramref name="lda"/>) into
    /// ceil(rows / mr) panels of <c>mr × kc</c> floats: <c>dst[p*mr*kc + k*mr + r] = A[p*mr + r, k]</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackA(float* a, nint lda, int rows, int kc, int mr, float* dst)
    {
        bool vector = Avx512F.IsSupported && mr <= 16;
        int kVec = vector ? kc & ~15 : 0;
        for (int p = 0; p < rows; p += mr)
        {
            int valid = Math.Min(mr, rows - p);
            float* src = a + p * lda;
            PrefetchRows(src + (mr * lda), lda, Math.Min(mr, rows - p - mr), kc);

            // Each transposed 16-row column is stored whole at stride mr: lanes ≥ mr spill into the next k's
            // slots and are overwritten by its store (ascending k), the last ones into the tail or Slack.
            for (int k = 0; k < kVec; k += 16)
            {
                Transpose16x16(src + k, lda, valid, dst + (nint)k * mr, mr);
            }

            for (int r = 0; r < mr; r++)
            {
                float* s = src + r * lda;
                float* d = dst + r;
                if (r < valid)
                {
                    for (int k = kVec; k < kc; k++)
                    {
                        d[k * mr] = s[k];
                    }
                }
                else
                {
                    for (int k = kVec; k < kc; k++)
                    {
                        d[k * mr] = 0f;
                    }
                }
            }

            dst += (nint)mr * kc;
        }
    }

    /// <summary>
    /// Packs a kc × cols block of B stored k-major (<c>B[k, j]</c> at <c>b[k*ldb + j]</c>,
    /// <see cref="GemmBLayout.KMajor"/>) into ceil(cols / nr) panels of <c>kc × nr</c> floats:
    /// <c>dst[p*nr*kc + k*nr + j] = B[k, p*nr + j]</c>. Walks B row by row (one contiguous read of cols
    /// floats, the next row prefetched) and deals each row out to the panels.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackBKMajor(float* b, nint ldb, int kc, int cols, int nr, float* dst)
    {
        int full = cols / nr * nr;
        int rest = cols - full;
        nint panelSize = (nint)nr * kc;
        for (int k = 0; k < kc; k++)
        {
            float* src = b + k * ldb;
            if (k + 1 < kc)
            {
                PrefetchRow(src + ldb, cols);
            }

            float* d = dst + (nint)k * nr;
            for (int p = 0; p < full; p += nr, d += panelSize)
            {
                new ReadOnlySpan<float>(src + p, nr).CopyTo(new Span<float>(d, nr));
            }

            if (rest > 0)
            {
                new ReadOnlySpan<float>(src + full, rest).CopyTo(new Span<float>(d, rest));
                new Span<float>(d + rest, nr - rest).Clear();
            }
        }
    }

    /// <summary>
    /// Packs a cols × kc block of B stored n-major (<c>B[j, k]</c> at <c>b[j*ldb + k]</c>, a PyTorch Linear
    /// weight, <see cref="GemmBLayout.NMajor"/>) into the same k-major panels as <see cref="PackBKMajor"/>:
    /// a transpose.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackBNMajor(float* b, nint ldb, int kc, int cols, int nr, float* dst)
    {
        bool vector = Avx512F.IsSupported && nr % 16 == 0;
        int kVec = vector ? kc & ~15 : 0;
        for (int p = 0; p < cols; p += nr)
        {
            int valid = Math.Min(nr, cols - p);
            float* src = b + p * ldb;
            PrefetchRows(src + (nr * ldb), ldb, Math.Min(nr, cols - p - nr), kc);
            for (int half = 0; half < nr && kVec > 0; half += 16)
            {
                int rows = valid - half;
                for (int k = 0; k < kVec; k += 16)
                {
                    float* d = dst + ((nint)k * nr) + half;
                    if (rows > 0)
                    {
                        Transpose16x16(src + (half * ldb) + k, ldb, Math.Min(16, rows), d, nr);
                    }
                    else
                    {
                        for (int t = 0; t < 16; t++)
                        {
                            Vector512.Store(Vector512<float>.Zero, d + ((nint)t * nr));
                        }
                    }
                }
            }

            for (int j = 0; j < nr; j++)
            {
                float* s = src + j * ldb;
                float* d = dst + j;
                if (j < valid)
                {
                    for (int k = kVec; k < kc; k++)
                    {
                        d[k * nr] = s[k];
                    }
                }
                else
                {
                    for (int k = kVec; k < kc; k++)
                    {
                        d[k * nr] = 0f;
                    }
                }
            }

            dst += (nint)nr * kc;
        }
    }

    /// <summary>
    /// Asks for the next panel's rows (each <paramref name="length"/> floats) while this one is packed.
    /// A panel reads 14-32 rows of only kc floats each, runs too short and too many for the hardware
    /// prefetcher, which left packing B from DRAM at a third of the bandwidth the skinny kernels get.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchRows(float* first, nint stride, int rows, int length)
    {
        // Into L2 (prefetcht1): a whole next panel is as large as L1.
        for (int r = 0; r < rows; r++)
        {
            float* row = first + (r * stride);
            for (int j = 0; j < length; j += 16)
            {
                Sse.Prefetch1(row + j);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchRow(float* row, int length)
    {
        for (int j = 0; j < length; j += 16)
        {
            Sse.Prefetch0(row + j);
        }
    }

    /// <summary>
    /// Reads 16 floats from each of <paramref name="rows"/> rows (stride <paramref name="srcStride"/>; missing
    /// rows repeat row 0) and stores column t, i.e. the 16 rows' t-th values, as 16 floats at
    /// <c>dst + t*dstStride</c> for t = 0..15 in ascending order. Four shuffle stages of 16 instructions:
    /// 32-bit interleave, 64-bit interleave, then two 128-bit-lane shuffles. Too large for the JIT to
    /// inline; fully optimised from the first call (its Tier-0 form spills every vector to the stack).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Transpose16x16(float* src, nint srcStride, int rows, float* dst, nint dstStride)
    {
        Vector512<float> r0 = Vector512.Load(src);
        Vector512<float> r1 = Vector512.Load(rows > 1 ? src + srcStride : src);
        Vector512<float> r2 = Vector512.Load(rows > 2 ? src + (2 * srcStride) : src);
        Vector512<float> r3 = Vector512.Load(rows > 3 ? src + (3 * srcStride) : src);
        Vector512<float> r4 = Vector512.Load(rows > 4 ? src + (4 * srcStride) : src);
        Vector512<float> r5 = Vector512.Load(rows > 5 ? src + (5 * srcStride) : src);
        Vector512<float> r6 = Vector512.Load(rows > 6 ? src + (6 * srcStride) : src);
        Vector512<float> r7 = Vector512.Load(rows > 7 ? src + (7 * srcStride) : src);
        Vector512<float> r8 = Vector512.Load(rows > 8 ? src + (8 * srcStride) : src);
        Vector512<float> r9 = Vector512.Load(rows > 9 ? src + (9 * srcStride) : src);
        Vector512<float> r10 = Vector512.Load(rows > 10 ? src + (10 * srcStride) : src);
        Vector512<float> r11 = Vector512.Load(rows > 11 ? src + (11 * srcStride) : src);
        Vector512<float> r12 = Vector512.Load(rows > 12 ? src + (12 * srcStride) : src);
        Vector512<float> r13 = Vector512.Load(rows > 13 ? src + (13 * srcStride) : src);
        Vector512<float> r14 = Vector512.Load(rows > 14 ? src + (14 * srcStride) : src);
        Vector512<float> r15 = Vector512.Load(rows > 15 ? src + (15 * srcStride) : src);

        // Stage 1: within 128-bit lanes, interleave pairs of rows: (a0 b0 a1 b1 | a4 b4 a5 b5 | ...).
        Vector512<float> t0 = Avx512F.UnpackLow(r0, r1), t1 = Avx512F.UnpackHigh(r0, r1);
        Vector512<float> t2 = Avx512F.UnpackLow(r2, r3), t3 = Avx512F.UnpackHigh(r2, r3);
        Vector512<float> t4 = Avx512F.UnpackLow(r4, r5), t5 = Avx512F.UnpackHigh(r4, r5);
        Vector512<float> t6 = Avx512F.UnpackLow(r6, r7), t7 = Avx512F.UnpackHigh(r6, r7);
        Vector512<float> t8 = Avx512F.UnpackLow(r8, r9), t9 = Avx512F.UnpackHigh(r8, r9);
        Vector512<float> t10 = Avx512F.UnpackLow(r10, r11), t11 = Avx512F.UnpackHigh(r10, r11);
        Vector512<float> t12 = Avx512F.UnpackLow(r12, r13), t13 = Avx512F.UnpackHigh(r12, r13);
        Vector512<float> t14 = Avx512F.UnpackLow(r14, r15), t15 = Avx512F.UnpackHigh(r14, r15);

        // Stage 2: interleave 64-bit pairs: u0 holds rows 0-3 of columns 0, 4, 8, 12 (one per lane), u1 of
        // columns 1, 5, 9, 13, u2 of 2, 6, 10, 14, u3 of 3, 7, 11, 15; u4..u7 the same for rows 4-7, etc.
        Vector512<float> u0 = Lo64(t0, t2), u1 = Hi64(t0, t2), u2 = Lo64(t1, t3), u3 = Hi64(t1, t3);
        Vector512<float> u4 = Lo64(t4, t6), u5 = Hi64(t4, t6), u6 = Lo64(t5, t7), u7 = Hi64(t5, t7);
        Vector512<float> u8 = Lo64(t8, t10), u9 = Hi64(t8, t10), u10 = Lo64(t9, t11), u11 = Hi64(t9, t11);
        Vector512<float> u12 = Lo64(t12, t14), u13 = Hi64(t12, t14), u14 = Lo64(t13, t15), u15 = Hi64(t13, t15);

        // Stages 3 and 4: gather the four row groups of each column with 128-bit lane shuffles.
        Column4(u0, u4, u8, u12, out Vector512<float> c0, out Vector512<float> c4, out Vector512<float> c8, out Vector512<float> c12);
        Column4(u1, u5, u9, u13, out Vector512<float> c1, out Vector512<float> c5, out Vector512<float> c9, out Vector512<float> c13);
        Column4(u2, u6, u10, u14, out Vector512<float> c2, out Vector512<float> c6, out Vector512<float> c10, out Vector512<float> c14);
        Column4(u3, u7, u11, u15, out Vector512<float> c3, out Vector512<float> c7, out Vector512<float> c11, out Vector512<float> c15);

        Vector512.Store(c0, dst);
        Vector512.Store(c1, dst + dstStride);
        Vector512.Store(c2, dst + (2 * dstStride));
        Vector512.Store(c3, dst + (3 * dstStride));
        Vector512.Store(c4, dst + (4 * dstStride));
        Vector512.Store(c5, dst + (5 * dstStride));
        Vector512.Store(c6, dst + (6 * dstStride));
        Vector512.Store(c7, dst + (7 * dstStride));
        Vector512.Store(c8, dst + (8 * dstStride));
        Vector512.Store(c9, dst + (9 * dstStride));
        Vector512.Store(c10, dst + (10 * dstStride));
        Vector512.Store(c11, dst + (11 * dstStride));
        Vector512.Store(c12, dst + (12 * dstStride));
        Vector512.Store(c13, dst + (13 * dstStride));
        Vector512.Store(c14, dst + (14 * dstStride));
        Vector512.Store(c15, dst + (15 * dstStride));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Lo64(Vector512<float> x, Vector512<float> y) =>
        Avx512F.UnpackLow(x.AsDouble(), y.AsDouble()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Hi64(Vector512<float> x, Vector512<float> y) =>
        Avx512F.UnpackHigh(x.AsDouble(), y.AsDouble()).AsSingle();

    /// <summary>
    /// From the four row groups (rows 0-3, 4-7, 8-11, 12-15) of columns j, j+4, j+8, j+12 (one column per
    /// 128-bit lane), builds those four full columns.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Column4(
        Vector512<float> g0, Vector512<float> g1, Vector512<float> g2, Vector512<float> g3,
        out Vector512<float> cj, out Vector512<float> cj4, out Vector512<float> cj8, out Vector512<float> cj12)
    {
        // 0x44 = lanes (0, 1) of each source, 0xEE = lanes (2, 3); 0x88 = lanes (0, 2), 0xDD = lanes (1, 3).
        Vector512<float> v0 = Avx512F.Shuffle4x128(g0, g1, 0x44);
        Vector512<float> v1 = Avx512F.Shuffle4x128(g0, g1, 0xEE);
        Vector512<float> w0 = Avx512F.Shuffle4x128(g2, g3, 0x44);
        Vector512<float> w1 = Avx512F.Shuffle4x128(g2, g3, 0xEE);
        cj = Avx512F.Shuffle4x128(v0, w0, 0x88);
        cj4 = Avx512F.Shuffle4x128(v0, w0, 0xDD);
        cj8 = Avx512F.Shuffle4x128(v1, w1, 0x88);
        cj12 = Avx512F.Shuffle4x128(v1, w1, 0xDD);
    }
}
