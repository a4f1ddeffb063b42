namespace AccelAes.Engine.Backends.Cpu;

/// <summary>How B is laid out in memory.</summary>
internal enum GemmBLayout
{
    /// <summary><c>B[k, j]</c> at <c>b[k*ldb + j]</c>: a row-major [K, N] matrix (plain MatMul).</summary>
    KMajor,

    /// <summary><c>B[j, k]</c> at <c>b[j*ldb + k]</c>: a row-major [N, K] matrix (a Linear weight, Kᵀ).</summary>
    NMajor,
}

/// <summary>
/// One validated GEMM call: <c>C[m×n] = alpha·A[m×k]·op(B) (+ C if Accumulate) (+ bias)</c> on row-major
/// operands with leading dimensions. Pointers stay valid for the duration of the call (callers pin).
/// </summary>
internal readonly unsafe struct GemmProblem
{
    public readonly int M;
    public readonly int N;
    public readonly int K;
    public readonly float* A;
    public readonly nint Lda;
    public readonly float* B;
    public readonly nint Ldb;
    public readonly GemmBLayout BLayout;
    public readonly float* C;
    public readonly nint Ldc;
    public readonly float* Bias;
    public readonly float Alpha;
    public readonly bool Accumulate;

    public GemmProblem(
        int m, int n, int k, float* a, nint lda, float* b, nint ldb, GemmBLayout bLayout,
        float* c, nint ldc, float* bias, float alpha, bool accumulate)
    {
        M = m;
        N = n;
        K = k;
        A = a;
        Lda = lda;
        B = b;
        Ldb = ldb;
        BLayout = bLayout;
        C = c;
        Ldc = ldc;
        Bias = bias;
        Alpha = alpha;
        Accumulate = accumulate;
    }

    /// <summary>Multiply-adds in the product; the unit of the parallel work threshold.</summary>
    public long MultiplyAdds => (long)M * N * K;

    /// <summary>Pointer to B's element for output column <paramref name="j"/> and depth <paramref name="k"/>.</summary>
    public float* BAt(nint k, nint j) => BLayout == GemmBLayout.KMajor ? B + k * Ldb + j : B + j * Ldb + k;
}
