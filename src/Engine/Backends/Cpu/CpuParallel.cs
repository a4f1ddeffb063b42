namespace AccelAes.Engine.Backends.Cpu;

/// <summary>
/// Parallel loops that stay serial when the work is too small to pay for thread hand-off
/// (most tensors of the tiny test models are a few thousand elements).
/// </summary>
internal static class CpuParallel
{
    /// <summary>Roughly the number of scalar operations below which a loop runs on the calling thread.</summary>
    private const long SerialThreshold = 1 << 16;

    /// <summary>Runs body(i) for i in [0, count); <paramref name="costPerItem"/> estimates the operations per item.</summary>
    public static void For(int count, long costPerItem, Action<int> body)
    {
        if (count <= 1 || count * costPerItem < SerialThreshold)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Parallel.For(0, count, body);
    }

    /// <summary>Runs body(start, end) over contiguous chunks of [0, count), one chunk per worker.</summary>
    public static void ForChunks(int count, long costPerItem, Action<int, int> body)
    {
        int workers = Environment.ProcessorCount;
        if (count <= 1 || workers == 1 || count * costPerItem < SerialThreshold)
        {
            body(0, count);
            return;
        }
        int chunks = Math.Min(count, workers * 4);
        Parallel.For(0, chunks, c =>
        {
            int start = (int)((long)count * c / chunks);
            int end = (int)((long)count * (c + 1) / chunks);
            if (end > start) body(start, end);
        });
    }
}
