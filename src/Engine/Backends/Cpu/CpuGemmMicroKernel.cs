using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AccelAes.Engine.Backends.Cpu;

/// <summary>
/// What a micro-kernel does with its MR×NR tile of sums once the k loop is done.
/// Every element of C goes through exactly <c>c = fma(alpha, sum, init)</c> with
/// <c>init = (LoadC ? c : 0) + (Bias != null ? bias[j] : 0)</c>, whichever kernel (vector or scalar,
/// full tile or edge tile) produced the sum, so that results never depend on how C was cut into tiles.
/// </summary>
internal readonly unsafe struct GemmEpilogue
{
    public readonly float Alpha;

    /// <summary>Bias for the tile's first column (already offset), or null.</summary>
    public readonly float* Bias;

    /// <summary>True when the existing C is part of <c>init</c> (accumulation, or a later k block).</summary>
    public readonly bool LoadC;

    /// <summary>True to store the raw sums (edge tiles go through a scratch tile first).</summary>
    public readonly bool Raw;

    public GemmEpilogue(float alpha, float* bias, bool loadC, bool raw)
    {
        Alpha = alpha;
        Bias = bias;
        LoadC = loadC;
        Raw = raw;
    }

    /// <summary>The scalar form of the epilogue; bit-identical to the vector kernels' per-lane work.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Apply(float alpha, float sum, float existing, bool loadC, float* bias, int j)
    {
        float init = loadC ? existing : 0f;
        if (bias != null)
        {
            init += bias[j];
        }

        return MathF.FusedMultiplyAdd(alpha, sum, init);
    }
}

/// <summary>
/// A register-blocked GEMM micro-kernel: C[MR×NR] ∘= A-panel · B-panel where the A panel is packed
/// k-major with MR floats per k (<c>a[k*MR + r]</c>) and the B panel k-major with NR floats per k
/// (<c>b[k*NR + j]</c>). Each sum starts at zero and adds one fused multiply-add per k, in k order.
/// </summary>
internal unsafe interface IGemmMicroKernel
{
    static abstract int MR { get; }

    static abstract int NR { get; }

    /// <summary>Whether this machine runs the kernel natively.</summary>
    static abstract bool IsSupported { get; }

    /// <summary>Computes one full MR×NR tile of C (row stride <paramref name="ldc"/>).</summary>
    static abstract void Tile(nint kc, float* a, float* b, float* c, nint ldc, in GemmEpilogue epilogue);
}

/// <summary>
/// AVX-512 kernel, 14 rows × 32 columns (two zmm per row). 28 accumulators + 2 B vectors + 1 broadcast
/// uses 31 of the 32 zmm registers; the JIT keeps them all in registers (checked with DOTNET_JitDisasm).
/// Per k: 2 vector loads + 14 broadcasts feed 28 FMAs, so the two FMA ports, not the load ports,
/// are the limit. In isolation (panels in L1/L2) 14×32, 12×32, 6×64, 8×48 and 9×48 all ran at
/// ~145 GFLOP/s on the 2.5 GHz Xeon (≈ the measured 1-core FMA peak); 14×32 was kept because it needs
/// the least operand traffic per FMA (46 floats per 448 FMA lanes), its 32-wide N step divides every
/// hidden size of the models, and it was fastest in the full GEMM (see CpuGemmBenchmark).
/// Selected by <see cref="Avx512F.IsSupported"/>, not <see cref="Vector512.IsHardwareAccelerated"/>: .NET
/// reports the latter as false on Skylake/Cascade Lake Xeons (like the 2.5 GHz CI machine) to avoid
/// AVX-512 down-clocking in general code, yet for this FMA-bound loop zmm measured ~145 GFLOP/s per core
/// against ~85 for ymm.
/// </summary>
internal readonly unsafe struct Avx512Kernel14x32 : IGemmMicroKernel
{
    public static int MR => 14;

    public static int NR => 32;

    public static bool IsSupported => Avx512F.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile(nint kc, float* a, float* b, float* c, nint ldc, in GemmEpilogue epilogue)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        Vector512<float> c80 = default, c81 = default, c90 = default, c91 = default;
        Vector512<float> ca0 = default, ca1 = default, cb0 = default, cb1 = default;
        Vector512<float> cc0 = default, cc1 = default, cd0 = default, cd1 = default;

        // C is read once, after the k loop; start fetching its 28 lines now so that the epilogue does
        // not stall on L3/DRAM latency (it is ~1/3 of the tile's time at kc = 256 otherwise).
        PrefetchTile(c, ldc);

        for (nint k = 0; k < kc; k++)
        {
            Vector512<float> b0 = Vector512.Load(b);
            Vector512<float> b1 = Vector512.Load(b + 16);
            Vector512<float> ar = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(ar, b1, c31);
            ar = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(ar, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(ar, b1, c41);
            ar = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(ar, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(ar, b1, c51);
            ar = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(ar, b0, c60);
            c61 = Vector512.FusedMultiplyAdd(ar, b1, c61);
            ar = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(ar, b0, c70);
            c71 = Vector512.FusedMultiplyAdd(ar, b1, c71);
            ar = Vector512.Create(a[8]);
            c80 = Vector512.FusedMultiplyAdd(ar, b0, c80);
            c81 = Vector512.FusedMultiplyAdd(ar, b1, c81);
            ar = Vector512.Create(a[9]);
            c90 = Vector512.FusedMultiplyAdd(ar, b0, c90);
            c91 = Vector512.FusedMultiplyAdd(ar, b1, c91);
            ar = Vector512.Create(a[10]);
            ca0 = Vector512.FusedMultiplyAdd(ar, b0, ca0);
            ca1 = Vector512.FusedMultiplyAdd(ar, b1, ca1);
            ar = Vector512.Create(a[11]);
            cb0 = Vector512.FusedMultiplyAdd(ar, b0, cb0);
            cb1 = Vector512.FusedMultiplyAdd(ar, b1, cb1);
            ar = Vector512.Create(a[12]);
            cc0 = Vector512.FusedMultiplyAdd(ar, b0, cc0);
            cc1 = Vector512.FusedMultiplyAdd(ar, b1, cc1);
            ar = Vector512.Create(a[13]);
            cd0 = Vector512.FusedMultiplyAdd(ar, b0, cd0);
            cd1 = Vector512.FusedMultiplyAdd(ar, b1, cd1);
            a += 14;
            b += 32;
        }

        if (epilogue.Raw)
        {
            // Scratch tile for an edge of C: store the sums, the caller applies the scalar epilogue.
            StoreRaw(c, ldc, 0, c00, c01);
            StoreRaw(c, ldc, 1, c10, c11);
            StoreRaw(c, ldc, 2, c20, c21);
            StoreRaw(c, ldc, 3, c30, c31);
            StoreRaw(c, ldc, 4, c40, c41);
            StoreRaw(c, ldc, 5, c50, c51);
            StoreRaw(c, ldc, 6, c60, c61);
            StoreRaw(c, ldc, 7, c70, c71);
            StoreRaw(c, ldc, 8, c80, c81);
            StoreRaw(c, ldc, 9, c90, c91);
            StoreRaw(c, ldc, 10, ca0, ca1);
            StoreRaw(c, ldc, 11, cb0, cb1);
            StoreRaw(c, ldc, 12, cc0, cc1);
            StoreRaw(c, ldc, 13, cd0, cd1);
            return;
        }

        Vector512<float> alpha = Vector512.Create(epilogue.Alpha);
        Vector512<float> bias0 = Vector512<float>.Zero, bias1 = Vector512<float>.Zero;
        bool hasBias = epilogue.Bias != null;
        if (hasBias)
        {
            bias0 = Vector512.Load(epilogue.Bias);
            bias1 = Vector512.Load(epilogue.Bias + 16);
        }

        bool loadC = epilogue.LoadC;
        Store(c, ldc, 0, c00, c01, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 1, c10, c11, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 2, c20, c21, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 3, c30, c31, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 4, c40, c41, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 5, c50, c51, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 6, c60, c61, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 7, c70, c71, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 8, c80, c81, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 9, c90, c91, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 10, ca0, ca1, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 11, cb0, cb1, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 12, cc0, cc1, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 13, cd0, cd1, alpha, loadC, hasBias, bias0, bias1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchTile(float* c, nint ldc)
    {
        for (nint r = 0; r < 14; r++)
        {
            Sse.Prefetch0(c + r * ldc);
            Sse.Prefetch0(c + r * ldc + 16);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRaw(float* c, nint ldc, nint row, Vector512<float> s0, Vector512<float> s1)
    {
        float* p = c + row * ldc;
        Vector512.Store(s0, p);
        Vector512.Store(s1, p + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(
        float* c, nint ldc, nint row, Vector512<float> s0, Vector512<float> s1, Vector512<float> alpha,
        bool loadC, bool hasBias, Vector512<float> bias0, Vector512<float> bias1)
    {
        float* p = c + row * ldc;
        Vector512<float> init0 = loadC ? Vector512.Load(p) : Vector512<float>.Zero;
        Vector512<float> init1 = loadC ? Vector512.Load(p + 16) : Vector512<float>.Zero;
        if (hasBias)
        {
            init0 += bias0;
            init1 += bias1;
        }

        Vector512.Store(Vector512.FusedMultiplyAdd(alpha, s0, init0), p);
        Vector512.Store(Vector512.FusedMultiplyAdd(alpha, s1, init1), p + 16);
    }
}

/// <summary>
/// AVX2 + FMA kernel, 6 rows × 16 columns (two ymm per row): 12 accumulators + 2 B vectors +
/// 1 broadcast fit the 16 ymm registers. Used where AVX-512 is missing.
/// </summary>
internal readonly unsafe struct Avx2Kernel6x16 : IGemmMicroKernel
{
    public static int MR => 6;

    public static int NR => 16;

    public static bool IsSupported => Vector256.IsHardwareAccelerated && Fma.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile(nint kc, float* a, float* b, float* c, nint ldc, in GemmEpilogue epilogue)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector256<float> c40 = default, c41 = default, c50 = default, c51 = default;

        for (nint k = 0; k < kc; k++)
        {
            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> ar = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            ar = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(ar, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(ar, b1, c41);
            ar = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(ar, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(ar, b1, c51);
            a += 6;
            b += 16;
        }

        if (epilogue.Raw)
        {
            StoreRaw(c, ldc, 0, c00, c01);
            StoreRaw(c, ldc, 1, c10, c11);
            StoreRaw(c, ldc, 2, c20, c21);
            StoreRaw(c, ldc, 3, c30, c31);
            StoreRaw(c, ldc, 4, c40, c41);
            StoreRaw(c, ldc, 5, c50, c51);
            return;
        }

        Vector256<float> alpha = Vector256.Create(epilogue.Alpha);
        Vector256<float> bias0 = Vector256<float>.Zero, bias1 = Vector256<float>.Zero;
        bool hasBias = epilogue.Bias != null;
        if (hasBias)
        {
            bias0 = Vector256.Load(epilogue.Bias);
            bias1 = Vector256.Load(epilogue.Bias + 8);
        }

        bool loadC = epilogue.LoadC;
        Store(c, ldc, 0, c00, c01, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 1, c10, c11, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 2, c20, c21, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 3, c30, c31, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 4, c40, c41, alpha, loadC, hasBias, bias0, bias1);
        Store(c, ldc, 5, c50, c51, alpha, loadC, hasBias, bias0, bias1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRaw(float* c, nint ldc, nint row, Vector256<float> s0, Vector256<float> s1)
    {
        float* p = c + row * ldc;
        Vector256.Store(s0, p);
        Vector256.Store(s1, p + 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(
        float* c, nint ldc, nint row, Vector256<float> s0, Vector256<float> s1, Vector256<float> alpha,
        bool loadC, bool hasBias, Vector256<float> bias0, Vector256<float> bias1)
    {
        float* p = c + row * ldc;
        Vector256<float> init0 = loadC ? Vector256.Load(p) : Vector256<float>.Zero;
        Vector256<float> init1 = loadC ? Vector256.Load(p + 8) : Vector256<float>.Zero;
        if (hasBias)
        {
            init0 += bias0;
            init1 += bias1;
        }

        Vector256.Store(Vector256.FusedMultiplyAdd(alpha, s0, init0), p);
        Vector256.Store(Vector256.FusedMultiplyAdd(alpha, s1, init1), p + 8);
    }
}

/// <summary>
/// Portable kernel, 4×4 scalars, for machines without AVX2/FMA (and as a readable statement of what the
/// vector kernels compute). <see cref="MathF.FusedMultiplyAdd"/> keeps the same rounding as the vector
/// kernels; it is correct everywhere, fast where the hardware fuses.
/// </summary>
internal readonly unsafe struct ScalarKernel4x4 : IGemmMicroKernel
{
    public static int MR => 4;

    public static int NR => 4;

    public static bool IsSupported => true;

    public static void Tile(nint kc, float* a, float* b, float* c, nint ldc, in GemmEpilogue epilogue)
    {
        float* sums = stackalloc float[16];
        new Span<float>(sums, 16).Clear();
        for (nint k = 0; k < kc; k++)
        {
            for (int r = 0; r < 4; r++)
            {
                float ar = a[r];
                for (int j = 0; j < 4; j++)
                {
                    sums[r * 4 + j] = MathF.FusedMultiplyAdd(ar, b[j], sums[r * 4 + j]);
                }
            }

            a += 4;
            b += 4;
        }

        for (int r = 0; r < 4; r++)
        {
            float* p = c + r * ldc;
            for (int j = 0; j < 4; j++)
            {
                p[j] = epilogue.Raw
                    ? sums[r * 4 + j]
                    : GemmEpilogue.Apply(epilogue.Alpha, sums[r * 4 + j], p[j], epilogue.LoadC, epilogue.Bias, j);
            }
        }
    }
}
