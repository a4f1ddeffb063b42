namespace AccelAes.Engine.Backends.Cpu;

/// <summary>Which micro-kernel family runs a GEMM; <see cref="Auto"/> picks the best this machine supports.</summary>
internal enum GemmIsa
{
    Auto,
    Avx512,
    Avx2,
    Scalar,
}

/// <summary>
/// Row-major fp32 matrix multiply for the CPU reference backend:
/// <c>C = alpha·A·op(B) (+ C when accumulating) (+ bias)</c>, A is [m, k], C is [m, n], every operand with
/// its own leading dimension (row stride, in elements) so per-head slices of [B, S, H, hd] tensors can be
/// used in place.
/// </summary>
/// <remarks>
/// <para>Each C element is computed as <c>fma(alpha, Σ, init)</c> blockwise over k in a fixed order that
/// depends only on (m, n, k) and the machine's instruction set, never on the thread count: parallel and
/// serial calls give bit-identical results.</para>
/// <para>With k = 0 the product is empty: C becomes bias (or zeros), or is left as C + bias when
/// accumulating (unchanged without bias).</para>
/// <para>C must not overlap A, B or bias.</para>
/// </remarks>
internal static unsafe class CpuGemm
{
    /// <summary>
    /// <c>C[i, j] = alpha·Σ_k A[i, k]·B[j, k] (+ C[i, j]) (+ bias[j])</c>: B is [n, k] row-major, the layout of a
    /// PyTorch Linear weight (and of K in Q·Kᵀ). The span overload validates that every index range fits.
    /// </summary>
    /// <param name="m">Rows of A and C.</param>
    /// <param name="n">Rows of B, columns of C.</param>
    /// <param name="k">Columns of A and B (the reduction length).</param>
    /// <param name="a">A; element (i, k) at <c>a[i*lda + k]</c>.</param>
    /// <param name="lda">Row stride of A, ≥ k.</param>
    /// <param name="b">B; element (j, k) at <c>b[j*ldb + k]</c>.</param>
    /// <param name="ldb">Row stride of B, ≥ k.</param>
    /// <param name="c">C; element (i, j) at <c>c[i*ldc + j]</c>. Only the m×n view is written.</param>
    /// <param name="ldc">Row stride of C, ≥ n.</param>
    /// <param name="bias">Empty for none, else at least n values added to every row.</param>
    /// <param name="alpha">Scale of the product (not of C or bias).</param>
    /// <param name="accumulate">Add to the existing C instead of overwriting it.</param>
    /// <param name="parallel">May use every core; pass false when the caller already runs in parallel.</param>
    public static void MatMulTransposedB(
        int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc,
        ReadOnlySpan<float> bias = default, float alpha = 1f, bool accumulate = false, bool parallel = true)
    {
        Validate(m, n, k, a, lda, b, ldb, GemmBLayout.NMajor, c, ldc, bias);
        fixed (float* pa = a, pb = b, pc = c, pbias = bias)
        {
            var problem = new GemmProblem(m, n, k, pa, lda, pb, ldb, GemmBLayout.NMajor, pc, ldc, bias.IsEmpty ? null : pbias, alpha, accumulate);
            Execute(problem, CpuGemmPartition.MaxTasks(parallel), GemmIsa.Auto, GemmBlocking.Default);
        }
    }

    /// <summary>Pointer form of <see cref="MatMulTransposedB(int, int, int, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, Span{float}, int, ReadOnlySpan{float}, float, bool, bool)"/>;
    /// checks sizes and strides but cannot check that the memory behind the pointers is large enough.</summary>
    public static void MatMulTransposedB(
        int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc,
        float* bias = null, float alpha = 1f, bool accumulate = false, bool parallel = true)
    {
        ValidateShape(m, n, k, lda, ldb, GemmBLayout.NMajor, ldc);
        Execute(new GemmProblem(m, n, k, a, lda, b, ldb, GemmBLayout.NMajor, c, ldc, bias, alpha, accumulate), CpuGemmPartition.MaxTasks(parallel), GemmIsa.Auto, GemmBlocking.Default);
    }

    /// <summary>
    /// <c>C[i, j] = alpha·Σ_k A[i, k]·B[k, j] (+ C[i, j]) (+ bias[j])</c>: B is [k, n] row-major (V in P·V, the
    /// im2col matrix of a convolution). Same parameters as
    /// <see cref="MatMulTransposedB(int, int, int, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, Span{float}, int, ReadOnlySpan{float}, float, bool, bool)"/>
    /// except that B's element (k, j) is at <c>b[k*ldb + j]</c> with ldb ≥ n.
    /// </summary>
    public static void MatMul(
        int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc,
        ReadOnlySpan<float> bias = default, float alpha = 1f, bool accumulate = false, bool parallel = true)
    {
        Validate(m, n, k, a, lda, b, ldb, GemmBLayout.KMajor, c, ldc, bias);
        fixed (float* pa = a, pb = b, pc = c, pbias = bias)
        {
            var problem = new GemmProblem(m, n, k, pa, lda, pb, ldb, GemmBLayout.KMajor, pc, ldc, bias.IsEmpty ? null : pbias, alpha, accumulate);
            Execute(problem, CpuGemmPartition.MaxTasks(parallel), GemmIsa.Auto, GemmBlocking.Default);
        }
    }

    /// <summary>Pointer form of <see cref="MatMul(int, int, int, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, Span{float}, int, ReadOnlySpan{float}, float, bool, bool)"/>.</summary>
    public static void MatMul(
        int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc,
        float* bias = null, float alpha = 1f, bool accumulate = false, bool parallel = true)
    {
        ValidateShape(m, n, k, lda, ldb, GemmBLayout.KMajor, ldc);
        Execute(new GemmProblem(m, n, k, a, lda, b, ldb, GemmBLayout.KMajor, c, ldc, bias, alpha, accumulate), CpuGemmPartition.MaxTasks(parallel), GemmIsa.Auto, GemmBlocking.Default);
    }

    /// <summary>The instruction set <see cref="GemmIsa.Auto"/> resolves to on this machine.</summary>
    public static GemmIsa BestIsa =>
        Avx512Kernel14x32.IsSupported ? GemmIsa.Avx512 : Avx2Kernel6x16.IsSupported ? GemmIsa.Avx2 : GemmIsa.Scalar;

    /// <summary>Whether <paramref name="isa"/> can run here (tests iterate over these).</summary>
    public static bool IsSupported(GemmIsa isa) => isa switch
    {
        GemmIsa.Auto or GemmIsa.Scalar => true,
        GemmIsa.Avx512 => Avx512Kernel14x32.IsSupported,
        GemmIsa.Avx2 => Avx2Kernel6x16.IsSupported,
        _ => false,
    };

    /// <summary>
    /// Runs a validated problem with an explicit kernel family, blocking and task limit (tests use small
    /// blockings to exercise multi-block paths on small matrices, and task limits above the core count to
    /// exercise other splits of C). Results depend on the kernel family and the blocking, never on the tasks.
    /// </summary>
    internal static void Execute(in GemmProblem problem, int maxTasks, GemmIsa isa, GemmBlocking blocking)
    {
        if (problem.M == 0 || problem.N == 0)
        {
            return;
        }

        if (problem.K == 0)
        {
            FillEmptyProduct(problem);
            return;
        }

        if (isa == GemmIsa.Auto)
        {
            isa = BestIsa;
        }

        if (!IsSupported(isa))
        {
            throw new PlatformNotSupportedException($"The {isa} GEMM kernels need instructions this CPU lacks.");
        }

        switch (isa)
        {
            case GemmIsa.Avx512 when CpuGemmSkinny.Suits(problem):
                CpuGemmSkinny.Run(problem, maxTasks);
                break;
            case GemmIsa.Avx512:
                CpuGemmDriver.Run<Avx512Kernel14x32>(problem, blocking, maxTasks);
                break;
            case GemmIsa.Avx2:
                CpuGemmDriver.Run<Avx2Kernel6x16>(problem, blocking, maxTasks);
                break;
            default:
                CpuGemmDriver.Run<ScalarKernel4x4>(problem, blocking, maxTasks);
                break;
        }
    }

    /// <summary>k = 0: the epilogue alone, C = (C if accumulating) + bias.</summary>
    private static void FillEmptyProduct(in GemmProblem p)
    {
        for (int i = 0; i < p.M; i++)
        {
            var row = new Span<float>(p.C + i * p.Ldc, p.N);
            if (!p.Accumulate)
            {
                row.Clear();
            }

            if (p.Bias != null)
            {
                for (int j = 0; j < p.N; j++)
                {
                    row[j] += p.Bias[j];
                }
            }
        }
    }

    private static void ValidateShape(int m, int n, int k, int lda, int ldb, GemmBLayout layout, int ldc)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfLessThan(lda, k);
        ArgumentOutOfRangeException.ThrowIfLessThan(ldb, layout == GemmBLayout.NMajor ? k : n);
        ArgumentOutOfRangeException.ThrowIfLessThan(ldc, n);
    }

    private static void Validate(
        int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, GemmBLayout layout,
        Span<float> c, int ldc, ReadOnlySpan<float> bias)
    {
        ValidateShape(m, n, k, lda, ldb, layout, ldc);
        long aNeeded = Extent(m, k, lda);
        long bNeeded = layout == GemmBLayout.NMajor ? Extent(n, k, ldb) : Extent(k, n, ldb);
        long cNeeded = Extent(m, n, ldc);
        if (a.Length < aNeeded)
        {
            throw new ArgumentException($"A needs {aNeeded} elements for {m}×{k} with lda {lda} but has {a.Length}.", nameof(a));
        }

        if (b.Length < bNeeded)
        {
            throw new ArgumentException($"B needs {bNeeded} elements for its {k}-deep, {n}-wide view with ldb {ldb} but has {b.Length}.", nameof(b));
        }

        if (c.Length < cNeeded)
        {
            throw new ArgumentException($"C needs {cNeeded} elements for {m}×{n} with ldc {ldc} but has {c.Length}.", nameof(c));
        }

        if (!bias.IsEmpty && bias.Length < n)
        {
            throw new ArgumentException($"bias needs {n} elements but has {bias.Length}.", nameof(bias));
        }

        ReadOnlySpan<float> written = c[..(int)cNeeded];
        if (written.Overlaps(a[..(int)aNeeded]) || written.Overlaps(b[..(int)bNeeded]) || (!bias.IsEmpty && written.Overlaps(bias[..n])))
        {
            throw new ArgumentException("C must not overlap A, B or bias.", nameof(c));
        }
    }

    /// <summary>Elements spanned by a rows × cols view with the given row stride.</summary>
    private static long Extent(int rows, int cols, int stride) =>
        rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * stride + cols;
}
