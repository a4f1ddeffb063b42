using System.Buffers.Binary;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels;

namespace AccelAes.Engine.Benchmarks;

/// <summary>
/// Fast host-side random tensors for benchmarks: bf16 values, uniform with a given standard deviation, from a
/// counter-based hash (SplitMix64 of seed + index), so chunks are generated in parallel and the result does not
/// depend on the thread count. Uploaded as BF16 bytes (half the bytes of fp32, no rounding pass on the device).
/// </summary>
/// <remarks>
/// The op set has no random-fill op and the CUDA kernels are not this folder's to extend, so benchmark weights are made
/// here and uploaded; timing never includes it. Uniform instead of normal: the values only have to keep activations O(1)
/// and finite, and uniform costs one hash per value (about 1 ns; SD3.5-Large's 8 G values take seconds on 16 cores).
/// </remarks>
public static class BenchRandom
{
    private const int Chunk = 1 << 20;

    /// <summary>Little-endian bf16 bytes of <paramref name="count"/> values uniform in [−√3·std, √3·std] (+ <paramref name="mean"/>).</summary>
    public static byte[] Bf16Bytes(long count, double std, double mean, ulong seed)
    {
        var bytes = new byte[checked(count * 2)];
        float half = (float)(Math.Sqrt(3) * std), offset = (float)mean;
        long chunks = (count + Chunk - 1) / Chunk;
        Parallel.For(0L, chunks, c =>
        {
            long start = c * Chunk, end = Math.Min(count, start + Chunk);
            var span = bytes.AsSpan((int)(start * 2), (int)((end - start) * 2));
            for (long i = start; i < end; i++)
            {
                ulong h = SplitMix64(seed + (ulong)i);
                // 24 random bits → [−1, 1).
                float u = (h >> 40) * (2f / (1 << 24)) - 1f;
                BinaryPrimitives.WriteUInt16LittleEndian(span[(int)((i - start) * 2)..], BFloat16Bits.FromSingle(offset + half * u));
            }
        });
        return bytes;
    }

    /// <summary>A random bf16 tensor on <paramref name="backend"/> (standard deviation <paramref name="std"/>, mean 0).</summary>
    public static Tensor Tensor(IBackend backend, Shape shape, double std, ulong seed) =>
        backend.UploadWeight(Bf16Bytes(shape.ElementCount, std, 0, seed), DType.BF16, shape);

    /// <summary>fp32 values uniform with standard deviation <paramref name="std"/> (inputs uploaded as fp32: latents, embeddings).</summary>
    public static float[] Floats(int count, double std, ulong seed)
    {
        var values = new float[count];
        float half = (float)(Math.Sqrt(3) * std);
        for (int i = 0; i < count; i++)
            values[i] = half * ((SplitMix64(seed + (ulong)i) >> 40) * (2f / (1 << 24)) - 1f);
        return values;
    }

    /// <summary>SplitMix64's finaliser: a bijective 64-bit mix; consecutive inputs give independent-looking outputs.</summary>
    public static ulong SplitMix64(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
