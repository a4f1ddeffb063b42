using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace AccelAes.Loader.SafeTensors;

/// <summary>Outcome of <see cref="SafeTensorsThroughput.ReadAll"/>.</summary>
/// <param name="Bytes">Bytes read (every byte of every tensor).</param>
/// <param name="Elapsed">Wall-clock time of the read.</param>
/// <param name="Threads">Threads used.</param>
/// <param name="Checksum">
/// Wrapping sum of each tensor's bytes taken as little-endian u64 words (a final partial word zero-padded).
/// It does not depend on the thread count, and it keeps the read from being optimised away.
/// </param>
public readonly record struct ThroughputResult(long Bytes, TimeSpan Elapsed, int Threads, ulong Checksum)
{
    /// <summary>Bytes per second, in units of 10^9.</summary>
    public double GigabytesPerSecond => Elapsed > TimeSpan.Zero ? Bytes / Elapsed.TotalSeconds / 1e9 : double.PositiveInfinity;
}

/// <summary>
/// Measures how fast a checkpoint's tensor bytes can be read through the memory mapping (from the page cache
/// when the files were read recently, from disk otherwise) by touching every byte.
/// </summary>
public static class SafeTensorsThroughput
{
    // Work unit for the threads; a multiple of 8 so that word boundaries inside a tensor do not depend on chunking.
    private const int ChunkBytes = 16 << 20;

    private readonly record struct Chunk(SafeTensorsFile File, SafeTensorInfo Tensor, long Offset, int Length);

    /// <summary>Reads every tensor byte of <paramref name="set"/> once with <paramref name="threads"/> threads.</summary>
    public static ThroughputResult ReadAll(SafeTensorsSet set, int threads = 1)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);

        var chunks = new List<Chunk>();
        foreach (var file in set.Files)
            foreach (var tensor in file.Tensors)
                for (long offset = 0; offset < tensor.ByteLength; offset += ChunkBytes)
                    chunks.Add(new Chunk(file, tensor, offset, (int)Math.Min(ChunkBytes, tensor.ByteLength - offset)));

        var stopwatch = Stopwatch.StartNew();
        ulong checksum = 0;
        if (threads == 1)
        {
            foreach (var chunk in chunks)
                checksum += Checksum(chunk.File.GetBytes(chunk.Tensor, chunk.Offset, chunk.Length));
        }
        else
        {
            Parallel.For(0, chunks.Count, new ParallelOptions { MaxDegreeOfParallelism = threads },
                () => 0UL,
                (i, _, local) =>
                {
                    var chunk = chunks[i];
                    return local + Checksum(chunk.File.GetBytes(chunk.Tensor, chunk.Offset, chunk.Length));
                },
                local => Interlocked.Add(ref checksum, local));
        }
        stopwatch.Stop();
        return new ThroughputResult(set.TotalBytes, stopwatch.Elapsed, threads, checksum);
    }

    /// <summary>Wrapping sum of the bytes as little-endian u64 words; a final partial word is zero-padded.</summary>
    internal static ulong Checksum(ReadOnlySpan<byte> bytes)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(bytes);
        ref var first = ref MemoryMarshal.GetReference(words);
        nuint n = (nuint)words.Length, i = 0;
        ulong sum = 0;

        if (Vector512.IsHardwareAccelerated && n >= (nuint)Vector512<ulong>.Count * 2)
        {
            // Two accumulators hide the add latency; the loop is bound by memory bandwidth anyway.
            var a = Vector512<ulong>.Zero;
            var b = Vector512<ulong>.Zero;
            var step = (nuint)Vector512<ulong>.Count;
            for (; i + 2 * step <= n; i += 2 * step)
            {
                a += Vector512.LoadUnsafe(ref first, i);
                b += Vector512.LoadUnsafe(ref first, i + step);
            }
            sum += Vector512.Sum(a + b);
        }
        if (Vector256.IsHardwareAccelerated && n - i >= (nuint)Vector256<ulong>.Count * 2)
        {
            var a = Vector256<ulong>.Zero;
            var b = Vector256<ulong>.Zero;
            var step = (nuint)Vector256<ulong>.Count;
            for (; i + 2 * step <= n; i += 2 * step)
            {
                a += Vector256.LoadUnsafe(ref first, i);
                b += Vector256.LoadUnsafe(ref first, i + step);
            }
            sum += Vector256.Sum(a + b);
        }
        for (; i < n; i++)
            sum += System.Runtime.CompilerServices.Unsafe.Add(ref first, i);

        var tail = bytes[(words.Length * sizeof(ulong))..];
        if (!tail.IsEmpty)
        {
            Span<byte> padded = stackalloc byte[sizeof(ulong)];
            padded.Clear();
            tail.CopyTo(padded);
            sum += System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(padded);
        }
        return sum;
    }
}
