
namespace AccelAes.Engine.Backends.Cpu;

/// <summary>
/// Row-major fp32 GEMM with leading dimensions. PLACEHOLDER: dot-product formulation, to be replaced by the
/// packed, register-blocked implementation.
/// </summary>
internal static unsafe class CpuGemm
{
    /// <summary>C = alpha·A·Bᵀ (+ bias) (+ C when accumulating); A [m, k] (lda), B [n, k] (ldb), C [m, n] (ldc).</summary>
    public static void MatMulTransposedB(int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        Span<float> c, int ldc, ReadOnlySpan<float> bias = default, float alpha = 1f, bool accumulate = false, bool parallel = true)
    {
        if (m == 0 || n == 0) return;
        fixed (float* pa = a, pb = b, pc = c, pbias = bias)
        {
            nint A = (nint)pa, B = (nint)pb, Cp = (nint)pc, Bias = (nint)pbias;
            bool hasBias = !bias.IsEmpty;
            void Row(int i)
            {
                var ar = new ReadOnlySpan<float>((float*)A + (long)i * lda, k);
                float* cr = (float*)Cp + (long)i * ldc;
                for (int j = 0; j < n; j++)
                {
                    float v = alpha * TensorPrimitives.Dot(ar, new ReadOnlySpan<float>((float*)B + (long)j * ldb, k));
                    if (hasBias) v += ((float*)Bias)[j];
                    cr[j] = accumulate ? cr[j] + v : v;
                }
            }
            if (parallel) CpuParallel.For(m, (long)n * k, Row);
            else for (int i = 0; i < m; i++) Row(i);
        }
    }

    /// <summary>C = alpha·A·B (+ bias) (+ C when accumulating); A [m, k] (lda), B [k, n] (ldb), C [m, n] (ldc).</summary>
    public static void MatMul(int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        Span<float> c, int ldc, ReadOnlySpan<float> bias = default, float alpha = 1f, bool accumulate = false, bool parallel = true)
    {
        if (m == 0 || n == 0) return;
        fixed (float* pa = a, pb = b, pc = c, pbias = bias)
        {
            nint A = (nint)pa, B = (nint)pb, Cp = (nint)pc, Bias = (nint)pbias;
            bool hasBias = !bias.IsEmpty;
            void Row(int i)
            {
                var cr = new Span<float>((float*)Cp + (long)i * ldc, n);
                var acc = new float[n];
                for (int p = 0; p < k; p++)
                {
                    float s = alpha * ((float*)A)[(long)i * lda + p];
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>((float*)B + (long)p * ldb, n), s, acc, acc);
                }
                if (hasBias) TensorPrimitives.Add(acc, new ReadOnlySpan<float>((float*)Bias, n), acc);
                if (accumulate) TensorPrimitives.Add(acc, cr, cr); else acc.CopyTo(cr);
            }
            if (parallel) CpuParallel.For(m, (long)n * k, Row);
            else for (int i = 0; i < m; i++) Row(i);
        }
    }
}
