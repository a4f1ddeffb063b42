using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Benchmarks;

/// <summary>One micro-benchmark row: the shape, the median time and the rate.</summary>
public sealed record MicroResult(string Op, string Shape, double Milliseconds, double Flops)
{
    /// <summary>NaN when no time was measured (the CPU emulator of libcuda reports 0 ms for every event pair).</summary>
    public double Tflops => Milliseconds > 0 ? Flops / (Milliseconds * 1e-3) / 1e12 : double.NaN;
}

/// <summary>
/// GEMM and attention rates of a backend (`accelaes bench --op gemm|attention`). The largest GEMM's rate is the
/// "measured bf16 matmul peak" that model benchmarks are compared with.
/// </summary>
public static class MicroBenchmarks
{
    /// <summary>Default square sizes: up to 8192³ on a GPU (the peak), up to 1024³ on the CPU (seconds, not hours).</summary>
    public static int[] DefaultGemmSizes(bool gpu) => gpu ? [1024, 2048, 4096, 8192] : [256, 512, 1024];

    /// <summary>Token counts of the attention benchmark: 4096 image tokens (1024²), and 4608 (FLUX's 4096 + 512 text).</summary>
    public static readonly int[] AttentionTokens = [4096, 4608];

    /// <summary>Head dims of the three backbones with their head counts: SD3 24×64, Lumina 32×72, FLUX 24×128.</summary>
    public static readonly (int HeadDim, int Heads)[] AttentionHeads = [(64, 24), (72, 32), (128, 24)];

    /// <summary>y = x·Wᵀ through the backend's Linear (cuBLASLt on CUDA), M = N = K = each size; 2·M·N·K FLOPs.</summary>
    public static IReadOnlyList<MicroResult> Gemm(IBackend backend, IReadOnlyList<int> sizes, int warmup, int repeats)
    {
        var results = new List<MicroResult>();
        foreach (int n in sizes)
        {
            if (n < 1) throw new AccelAesException($"GEMM sizes must be positive (got {n}).");
            using var x = BenchRandom.Tensor(backend, new Shape(n, n), 1.0, 11);
            using var w = BenchRandom.Tensor(backend, new Shape(n, n), 1.0 / Math.Sqrt(n), 12);
            double ms = BenchTiming.MedianMilliseconds(backend, () => backend.Linear(x, w, null).Dispose(), warmup, repeats);
            results.Add(new MicroResult("gemm", $"{n}×{n}×{n}", ms, 2.0 * n * n * n));
        }
        return results;
    }

    /// <summary>Self-attention, bf16, batch <paramref name="batch"/>; FLOPs 4·B·H·Sq·Sk·D.</summary>
    public static IReadOnlyList<MicroResult> Attention(IBackend backend, IReadOnlyList<int> tokens, IReadOnlyList<(int HeadDim, int Heads)> heads,
        int batch, int warmup, int repeats)
    {
        var results = new List<MicroResult>();
        foreach (var (d, h) in heads)
            foreach (int s in tokens)
            {
                var shape = new Shape(batch, s, h, d);
                using var q = BenchRandom.Tensor(backend, shape, 1.0, 21);
                using var k = BenchRandom.Tensor(backend, shape, 1.0, 22);
                using var v = BenchRandom.Tensor(backend, shape, 1.0, 23);
                float scale = 1f / MathF.Sqrt(d);
                double ms = BenchTiming.MedianMilliseconds(backend, () => backend.Attention(q, k, v, scale).Dispose(), warmup, repeats);
                results.Add(new MicroResult("attention", $"B {batch} H {h} S {s} D {d}", ms, 4.0 * batch * h * s * s * d));
            }
        return results;
    }
}
