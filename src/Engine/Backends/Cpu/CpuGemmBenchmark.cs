using System.Diagnostics;

namespace AccelAes.Engine.Backends.Cpu;

/// <summary>Timing of one GEMM shape (see <see cref="CpuGemmBenchmark.Run"/>).</summary>
/// <param name="M">Rows of A and C.</param>
/// <param name="N">Columns of C.</param>
/// <param name="K">Reduction length.</param>
/// <param name="TransposedB">True for MatMulTransposedB (B is [N, K]), false for MatMul (B is [K, N]).</param>
/// <param name="Parallel">Whether the GEMM was allowed to use every core.</param>
/// <param name="Repetitions">Timed calls (after warm-up).</param>
/// <param name="BestSeconds">Fastest call.</param>
/// <param name="MedianSeconds">Median call.</param>
public sealed record CpuGemmBenchmarkResult(
    int M, int N, int K, bool TransposedB, bool Parallel, int Repetitions, double BestSeconds, double MedianSeconds)
{
    /// <summary>Floating-point operations of one call (a multiply-add counts as two).</summary>
    public double Flops => 2.0 * M * N * K;

    /// <summary>GFLOP/s of the fastest call.</summary>
    public double BestGflops => BestSeconds > 0 ? Flops / BestSeconds / 1e9 : 0;

    /// <summary>GFLOP/s of the median call.</summary>
    public double MedianGflops => MedianSeconds > 0 ? Flops / MedianSeconds / 1e9 : 0;
}

/// <summary>Measures the CPU SGEMM on random data (for <c>accelaes bench</c>; tests never assert speed).</summary>
public static class CpuGemmBenchmark
{
    /// <summary>
    /// Times <paramref name="repetitions"/> calls of C[m×n] = A[m×k]·Bᵀ (or A·B) after warm-up calls that let
    /// the JIT and the thread pool settle, and reports the best and the median call.
    /// </summary>
    public static CpuGemmBenchmarkResult Run(int m, int n, int k, bool parallel, int repetitions, bool transposedB = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(m);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(repetitions);

        var random = new Random(1234);
        float[] a = RandomArray(random, (long)m * k);
        float[] b = RandomArray(random, (long)n * k);
        float[] c = new float[(long)m * n];
        float[] bias = RandomArray(random, n);

        void Call()
        {
            if (transposedB)
            {
                CpuGemm.MatMulTransposedB(m, n, k, a, k, b, k, c, n, bias, parallel: parallel);
            }
            else
            {
                CpuGemm.MatMul(m, n, k, a, k, b, n, c, n, bias, parallel: parallel);
            }
        }

        // Warm-up: tiered JIT, ArrayPool buffers, thread-pool threads; at least ~0.2 s or 3 calls.
        var warmup = Stopwatch.StartNew();
        for (int i = 0; i < 3 || warmup.Elapsed.TotalSeconds < 0.2; i++)
        {
            Call();
        }

        var seconds = new double[repetitions];
        for (int i = 0; i < repetitions; i++)
        {
            long start = Stopwatch.GetTimestamp();
            Call();
            seconds[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }

        Array.Sort(seconds);
        double median = repetitions % 2 == 1
            ? seconds[repetitions / 2]
            : 0.5 * (seconds[(repetitions / 2) - 1] + seconds[repetitions / 2]);
        return new CpuGemmBenchmarkResult(m, n, k, transposedB, parallel, repetitions, seconds[0], median);
    }

    private static float[] RandomArray(Random random, long length)
    {
        var values = new float[length];
        for (long i = 0; i < length; i++)
        {
            values[i] = (random.NextSingle() * 2f) - 1f;
        }

        return values;
    }
}
