using System.Runtime.InteropServices;
using AccelAes.Engine.Backends.Cpu;

namespace AccelAes.Engine.Tests.Backends;

/// <summary>
/// CpuGemm against a naive double-precision triple loop on fresh random data in [-1, 1]. Every
/// comparison allows |c − ref| ≤ 1e-5·(|alpha|·Σ_k|a·b| + |c₀| + |bias|) + 1e-6 per element.
/// </summary>
public sealed unsafe class CpuGemmTests
{
    /// <summary>Small blocks so that small matrices still cross every k, row and column block boundary.</summary>
    private static readonly GemmBlocking Tiny = new(KC: 24, MC: 30, NC: 70);

    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 },
        { 1, 1, 17 },
        { 2, 3, 4 },
        { 3, 5, 1 },
        { 5, 7, 3 },
        { 17, 31, 13 },
        { 97, 3, 129 },
        { 3, 97, 129 },
        { 4, 64, 16 },
        { 6, 16, 8 },
        { 7, 17, 9 },
        { 13, 31, 15 },
        { 14, 32, 16 },
        { 15, 33, 17 },
        { 28, 64, 48 },
        { 29, 65, 49 },
        { 27, 63, 47 },
        { 12, 48, 257 },
        { 42, 96, 256 },
        { 43, 95, 255 },
        { 100, 1, 30 },
        { 1, 100, 30 },
        { 2, 1100, 33 },
        { 3, 37, 100 },
        { 4, 129, 47 },
        { 5, 130, 64 },
        { 8, 77, 19 },
        { 9, 100, 50 },
        { 12, 40, 33 },
        { 64, 200, 20 },
        { 200, 70, 40 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void EveryKernelMatchesTheReference(int m, int n, int k)
    {
        var random = new Random(HashCode.Combine(m, n, k));
        int variant = 0;
        foreach (GemmIsa isa in Enum.GetValues<GemmIsa>().Where(CpuGemm.IsSupported))
        {
            foreach (bool transposedB in new[] { true, false })
            {
                foreach (GemmBlocking blocking in new[] { GemmBlocking.Default, Tiny })
                {
                    // Cycle through the epilogue options so every shape sees each of them.
                    bool withBias = variant % 2 == 0;
                    bool accumulate = variant % 3 == 1;
                    float alpha = (variant % 4) switch { 0 => 1f, 1 => 0.5f, 2 => -2f, _ => 1f };
                    variant++;

                    var op = Operands.Random(random, m, n, k, transposedB, withBias, accumulate);
                    op.Execute(isa, blocking, maxTasks: 1, alpha, accumulate);
                    op.AssertMatchesReference(alpha, accumulate, $"{isa} {(transposedB ? "A·Bᵀ" : "A·B")} KC={blocking.KC}");
                }
            }
        }
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(17, 31, 13)]
    [InlineData(97, 3, 129)]
    [InlineData(2, 70, 40)]
    [InlineData(30, 66, 35)]
    public void LeadingDimensionsSelectAViewAndNothingOutsideItIsReadOrWritten(int m, int n, int k)
    {
        var random = new Random(HashCode.Combine(m, n, k, 7));
        foreach (bool transposedB in new[] { true, false })
        {
            foreach (bool accumulate in new[] { false, true })
            {
                // Views start at an offset and rows are padded; padding of A and B holds NaN, so reading it
                // into any result would show, and padding of C holds a sentinel that must survive.
                int lda = k + 3, ldb = (transposedB ? k : n) + 5, ldc = n + 2;
                const int aOffset = 5, bOffset = 3, cOffset = 7;
                int bRows = transposedB ? n : k, bCols = transposedB ? k : n;
                float[] a = PaddedView(random, aOffset, m, k, lda, float.NaN);
                float[] b = PaddedView(random, bOffset, bRows, bCols, ldb, float.NaN);
                const float sentinel = 12345.5f;
                float[] c = PaddedView(random, cOffset, m, n, ldc, sentinel);
                float[] bias = RandomArray(random, n);
                float[] c0 = (float[])c.Clone();
                const float alpha = 0.75f;

                if (transposedB)
                {
                    CpuGemm.MatMulTransposedB(m, n, k, a.AsSpan(aOffset), lda, b.AsSpan(bOffset), ldb, c.AsSpan(cOffset), ldc, bias, alpha, accumulate);
                }
                else
                {
                    CpuGemm.MatMul(m, n, k, a.AsSpan(aOffset), lda, b.AsSpan(bOffset), ldb, c.AsSpan(cOffset), ldc, bias, alpha, accumulate);
                }

                for (int index = 0; index < c.Length; index++)
                {
                    int rel = index - cOffset;
                    bool inside = rel >= 0 && rel / ldc < m && rel % ldc < n;
                    if (!inside)
                    {
                        Assert.Equal(sentinel, c[index]);
                        continue;
                    }

                    int i = rel / ldc, j = rel % ldc;
                    double sum = 0, magnitude = 0;
                    for (int kk = 0; kk < k; kk++)
                    {
                        double av = a[aOffset + (i * lda) + kk];
                        double bv = transposedB ? b[bOffset + (j * ldb) + kk] : b[bOffset + (kk * ldb) + j];
                        sum += av * bv;
                        magnitude += Math.Abs(av * bv);
                    }

                    double init = (accumulate ? c0[index] : 0) + bias[j];
                    double expected = (alpha * sum) + init;
                    double bound = (1e-5 * ((alpha * magnitude) + Math.Abs(init))) + 1e-6;
                    Assert.True(Math.Abs(c[index] - expected) <= bound, $"C[{i},{j}] = {c[index]}, expected {expected} ± {bound}");
                }
            }
        }
    }

    [Theory]
    [InlineData(300, 200, 100, true)]
    [InlineData(300, 200, 100, false)]
    [InlineData(97, 400, 131, true)]
    [InlineData(500, 45, 200, false)]
    [InlineData(2, 9000, 300, true)]
    [InlineData(3, 9000, 300, false)]
    [InlineData(1, 5000, 700, true)]
    [InlineData(11, 3000, 200, true)]
    [InlineData(7, 3000, 200, false)]
    [InlineData(25, 1030, 1020, true)]
    public void ResultsAreBitIdenticalWhateverTheThreadCount(int m, int n, int k, bool transposedB)
    {
        var random = new Random(HashCode.Combine(m, n, k, transposedB));
        var op = Operands.Random(random, m, n, k, transposedB, withBias: true, accumulate: true);
        float[] serial = op.RunPublic(parallel: false, alpha: 1.5f, accumulate: true);
        float[] parallel = op.RunPublic(parallel: true, alpha: 1.5f, accumulate: true);
        AssertBitIdentical(serial, parallel, "parallel");

        // Splits other than the machine's core count (and grids with several parts along M and N).
        foreach (int tasks in new[] { 2, 3, 4, 6, 7 })
        {
            op.ResetC();
            op.Execute(GemmIsa.Auto, GemmBlocking.Default, tasks, 1.5f, accumulate: true);
            AssertBitIdentical(serial, op.C, $"{tasks} tasks");
        }

        op.AssertMatchesReference(1.5f, accumulate: true, "last split");
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void EmptyProductLeavesBiasOrTheAccumulatedC(bool withBias, bool accumulate)
    {
        const int m = 3, n = 5;
        float[] c = Enumerable.Range(0, m * n).Select(i => (float)i).ToArray();
        float[] bias = withBias ? new[] { 1f, 2f, 3f, 4f, 5f } : Array.Empty<float>();
        float[] expected = new float[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                expected[(i * n) + j] = (accumulate ? c[(i * n) + j] : 0f) + (withBias ? bias[j] : 0f);
            }
        }

        foreach (bool transposedB in new[] { true, false })
        {
            float[] result = (float[])c.Clone();
            if (transposedB)
            {
                CpuGemm.MatMulTransposedB(m, n, 0, ReadOnlySpan<float>.Empty, 0, ReadOnlySpan<float>.Empty, 0, result, n, bias, 2f, accumulate);
            }
            else
            {
                CpuGemm.MatMul(m, n, 0, ReadOnlySpan<float>.Empty, 0, ReadOnlySpan<float>.Empty, n, result, n, bias, 2f, accumulate);
            }

            Assert.Equal(expected, result);
        }
    }

    [Theory]
    [InlineData(0, 4, 3)]
    [InlineData(4, 0, 3)]
    public void EmptyOutputTouchesNothing(int m, int n, int k)
    {
        float[] a = RandomArray(new Random(1), 12);
        float[] b = RandomArray(new Random(2), 12);
        float[] c = { 7f, 7f, 7f };
        CpuGemm.MatMulTransposedB(m, n, k, a, k, b, k, c, Math.Max(n, 1), new[] { 1f, 1f, 1f, 1f });
        CpuGemm.MatMul(m, n, k, a, k, b, Math.Max(n, 1), c, Math.Max(n, 1));
        Assert.Equal(new[] { 7f, 7f, 7f }, c);
    }

    [Fact]
    public void PointerOverloadsMatchSpanOverloads()
    {
        var random = new Random(5);
        const int m = 37, n = 45, k = 29;
        float[] a = RandomArray(random, m * k), bt = RandomArray(random, n * k), bn = RandomArray(random, k * n);
        float[] bias = RandomArray(random, n);
        float[] viaSpanT = new float[m * n], viaPtrT = new float[m * n], viaSpanN = new float[m * n], viaPtrN = new float[m * n];

        CpuGemm.MatMulTransposedB(m, n, k, a, k, bt, k, viaSpanT, n, bias, 0.5f);
        CpuGemm.MatMul(m, n, k, a, k, bn, n, viaSpanN, n, bias, 0.5f);
        fixed (float* pa = a, pbt = bt, pbn = bn, pbias = bias, pt = viaPtrT, pn = viaPtrN)
        {
            CpuGemm.MatMulTransposedB(m, n, k, pa, k, pbt, k, pt, n, pbias, 0.5f);
            CpuGemm.MatMul(m, n, k, pa, k, pbn, n, pn, n, pbias, 0.5f);
        }

        AssertBitIdentical(viaSpanT, viaPtrT, "A·Bᵀ");
        AssertBitIdentical(viaSpanN, viaPtrN, "A·B");
        Assert.Contains(viaSpanT, v => v != 0f);
    }

    [Fact]
    public void SpansTooShortAreRejectedNamingTheArgument()
    {
        const int m = 4, n = 5, k = 6;
        float[] a = new float[m * k], b = new float[n * k], c = new float[m * n], bias = new float[n];

        Assert.Equal("a", Assert.Throws<ArgumentException>(() => CpuGemm.MatMulTransposedB(m, n, k, a.AsSpan(1), k, b, k, c, n)).ParamName);
        Assert.Equal("b", Assert.Throws<ArgumentException>(() => CpuGemm.MatMulTransposedB(m, n, k, a, k, b.AsSpan(1), k, c, n)).ParamName);
        Assert.Equal("c", Assert.Throws<ArgumentException>(() => CpuGemm.MatMulTransposedB(m, n, k, a, k, b, k, c.AsSpan(1), n)).ParamName);
        Assert.Equal("bias", Assert.Throws<ArgumentException>(() => CpuGemm.MatMulTransposedB(m, n, k, a, k, b, k, c, n, bias.AsSpan(1))).ParamName);

        // A row stride larger than the row makes the same buffer too short.
        Assert.Equal("a", Assert.Throws<ArgumentException>(() => CpuGemm.MatMul(m, n, k, a, k + 1, b, n, c, n)).ParamName);
        Assert.Equal("b", Assert.Throws<ArgumentException>(() => CpuGemm.MatMul(m, n, k, a, k, b, n + 1, c, n)).ParamName);
        Assert.Equal("c", Assert.Throws<ArgumentException>(() => CpuGemm.MatMul(m, n, k, a, k, b, n, c, n + 1)).ParamName);
    }

    [Fact]
    public void BadSizesAndStridesAreRejectedNamingTheArgument()
    {
        float[] buffer = new float[100], c = new float[100];
        Assert.Equal("m", Assert.Throws<ArgumentOutOfRangeException>(() => CpuGemm.MatMul(-1, 2, 2, buffer, 2, buffer, 2, c, 2)).ParamName);
        Assert.Equal("n", Assert.Throws<ArgumentOutOfRangeException>(() => CpuGemm.MatMul(2, -1, 2, buffer, 2, buffer, 2, c, 2)).ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentOutOfRangeException>(() => CpuGemm.MatMul(2, 2, -1, buffer, 2, buffer, 2, c, 2)).ParamName);
        Assert.Equal("lda", Assert.Throws<ArgumentOutOfRangeException>(() => CpuGemm.MatMulTransposedB(2, 3, 4, buffer, 3, buffer, 4, c, 3)).ParamName);
        Assert.Equal("ldb", Assert.Throws<ArgumentOutOfRangeException>(() => CpuGemm.MatMulTransposedB(2, 3, 4, buffer, 4, buffer, 3, c, 3)).ParamName);
        Assert.Equal("ldb", Assert.Throws<ArgumentOutOfRangeException>(() => CpuGemm.MatMul(2, 3, 4, buffer, 4, buffer, 2, c, 3)).ParamName);
        Assert.Equal("ldc", Assert.Throws<ArgumentOutOfRangeException>(() => CpuGemm.MatMul(2, 3, 4, buffer, 4, buffer, 3, c, 2)).ParamName);
    }

    [Fact]
    public void OutputOverlappingAnInputIsRejected()
    {
        float[] buffer = new float[64];
        Assert.Equal("c", Assert.Throws<ArgumentException>(() => CpuGemm.MatMul(2, 2, 2, buffer, 2, buffer.AsSpan(8), 2, buffer.AsSpan(2), 2)).ParamName);
        Assert.Equal("c", Assert.Throws<ArgumentException>(() => CpuGemm.MatMul(2, 2, 2, buffer, 2, buffer.AsSpan(8), 2, buffer.AsSpan(10), 2)).ParamName);
        Assert.Equal("c", Assert.Throws<ArgumentException>(() => CpuGemm.MatMul(2, 2, 2, buffer, 2, buffer.AsSpan(8), 2, buffer.AsSpan(20), 2, buffer.AsSpan(21, 2))).ParamName);

        // Disjoint views of one buffer are fine.
        CpuGemm.MatMul(2, 2, 2, buffer, 2, buffer.AsSpan(8), 2, buffer.AsSpan(20), 2, buffer.AsSpan(30, 2));
    }

    [Theory]
    [InlineData(10, 3)]
    [InlineData(7, 7)]
    [InlineData(3, 10)]
    [InlineData(1, 4)]
    public void PartitionRangesTileTheWholeLengthOnTileBoundaries(int tiles, int parts)
    {
        const int tileSize = 14;
        int length = (tiles * tileSize) - 5;
        int expectedStart = 0;
        for (int index = 0; index < parts; index++)
        {
            (int start, int end) = CpuGemmPartition.Range(index, parts, tiles, tileSize, length);
            Assert.Equal(expectedStart, start);
            Assert.True(end >= start);
            Assert.True(end == length || end % tileSize == 0);
            expectedStart = end;
        }

        Assert.Equal(length, expectedStart);
    }

    [Fact]
    public void PartitionGridSplitsTheLargerDimensionAndRespectsTileCounts()
    {
        Assert.Equal((2, 1), CpuGemmPartition.Grid(2, tilesM: 100, tilesN: 10, m: 1400, n: 320));
        Assert.Equal((1, 2), CpuGemmPartition.Grid(2, tilesM: 10, tilesN: 100, m: 140, n: 3200));
        Assert.Equal((1, 2), CpuGemmPartition.Grid(2, tilesM: 1, tilesN: 100, m: 14, n: 3200));
        Assert.Equal((1, 1), CpuGemmPartition.Grid(4, tilesM: 1, tilesN: 1, m: 14, n: 32));
        Assert.Equal(1, CpuGemmPartition.TaskCount(CpuGemmDriver.ParallelThreshold - 1, maxTasks: 8, tiles: 1000));
        Assert.Equal(1, CpuGemmPartition.TaskCount(1L << 40, maxTasks: 1, tiles: 1000));
        Assert.Equal(4, CpuGemmPartition.TaskCount(1L << 40, maxTasks: 4, tiles: 1000));
    }

    [Fact]
    public void BenchmarkReportsConsistentTimings()
    {
        CpuGemmBenchmarkResult result = CpuGemmBenchmark.Run(20, 30, 40, parallel: false, repetitions: 3);
        Assert.Equal((20, 30, 40), (result.M, result.N, result.K));
        Assert.Equal(2.0 * 20 * 30 * 40, result.Flops);
        Assert.True(result.BestSeconds > 0 && result.BestSeconds <= result.MedianSeconds);
        Assert.True(result.BestGflops >= result.MedianGflops);
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuGemmBenchmark.Run(0, 1, 1, parallel: false, repetitions: 1));
    }

    private static void AssertBitIdentical(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        ReadOnlySpan<int> e = MemoryMarshal.Cast<float, int>(expected), a = MemoryMarshal.Cast<float, int>(actual);
        int first = e.SequenceCompareTo(a) == 0 ? -1 : FirstDifference(e, a);
        Assert.True(first < 0, $"{what}: element {first} differs: {(first < 0 ? 0 : expected[first])} vs {(first < 0 ? 0 : actual[first])}");
    }

    private static int FirstDifference(ReadOnlySpan<int> x, ReadOnlySpan<int> y)
    {
        for (int i = 0; i < x.Length; i++)
        {
            if (x[i] != y[i])
            {
                return i;
            }
        }

        return -1;
    }

    private static float[] RandomArray(Random random, int length)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = (random.NextSingle() * 2f) - 1f;
        }

        return values;
    }

    /// <summary>A buffer with a rows × cols view at <paramref name="offset"/>, row stride ld, padding = fill.</summary>
    private static float[] PaddedView(Random random, int offset, int rows, int cols, int ld, float fill)
    {
        int length = offset + (rows == 0 ? 0 : ((rows - 1) * ld) + cols) + 4;
        float[] buffer = Enumerable.Repeat(fill, length).ToArray();
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                buffer[offset + (i * ld) + j] = (random.NextSingle() * 2f) - 1f;
            }
        }

        return buffer;
    }

    /// <summary>Dense operands of one test multiply, plus the double-precision reference.</summary>
    private sealed class Operands
    {
        private readonly float[] _c0;

        private Operands(int m, int n, int k, bool transposedB, float[] a, float[] b, float[] c, float[]? bias)
        {
            M = m;
            N = n;
            K = k;
            TransposedB = transposedB;
            A = a;
            B = b;
            C = c;
            _c0 = (float[])c.Clone();
            Bias = bias;
        }

        public int M { get; }

        public int N { get; }

        public int K { get; }

        public bool TransposedB { get; }

        public float[] A { get; }

        public float[] B { get; }

        public float[] C { get; }

        public float[]? Bias { get; }

        private int Ldb => TransposedB ? K : N;

        public static Operands Random(Random random, int m, int n, int k, bool transposedB, bool withBias, bool accumulate)
        {
            float[] c = accumulate ? RandomArray(random, m * n) : Enumerable.Repeat(float.NaN, m * n).ToArray();
            return new Operands(m, n, k, transposedB, RandomArray(random, m * k), RandomArray(random, n * k), c, withBias ? RandomArray(random, n) : null);
        }

        public void ResetC() => _c0.CopyTo(C, 0);

        public void Execute(GemmIsa isa, GemmBlocking blocking, int maxTasks, float alpha, bool accumulate)
        {
            fixed (float* a = A, b = B, c = C, bias = Bias)
            {
                var problem = new GemmProblem(M, N, K, a, K, b, Ldb, TransposedB ? GemmBLayout.NMajor : GemmBLayout.KMajor, c, N, bias, alpha, accumulate);
                CpuGemm.Execute(problem, maxTasks, isa, blocking);
            }
        }

        public float[] RunPublic(bool parallel, float alpha, bool accumulate)
        {
            ResetC();
            if (TransposedB)
            {
                CpuGemm.MatMulTransposedB(M, N, K, A, K, B, Ldb, C, N, Bias, alpha, accumulate, parallel);
            }
            else
            {
                CpuGemm.MatMul(M, N, K, A, K, B, Ldb, C, N, Bias, alpha, accumulate, parallel);
            }

            return (float[])C.Clone();
        }

        public void AssertMatchesReference(float alpha, bool accumulate, string what)
        {
            for (int i = 0; i < M; i++)
            {
                for (int j = 0; j < N; j++)
                {
                    double sum = 0, magnitude = 0;
                    for (int kk = 0; kk < K; kk++)
                    {
                        double product = (double)A[(i * K) + kk] * (TransposedB ? B[(j * K) + kk] : B[(kk * N) + j]);
                        sum += product;
                        magnitude += Math.Abs(product);
                    }

                    double init = (accumulate ? _c0[(i * N) + j] : 0) + (Bias?[j] ?? 0);
                    double expected = (alpha * sum) + init;
                    double bound = (1e-5 * ((Math.Abs(alpha) * magnitude) + Math.Abs(init))) + 1e-6;
                    float actual = C[(i * N) + j];
                    if (!(Math.Abs(actual - expected) <= bound))
                    {
                        Assert.Fail($"{what}, {M}×{N}×{K}: C[{i},{j}] = {actual}, expected {expected} ± {bound}");
                    }
                }
            }
        }
    }
}
