using System.Diagnostics;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Benchmarks;

/// <summary>
/// Median time of queued work: CUDA events on the CUDA backend (<see cref="CudaBackend.MeasureMilliseconds"/>: device
/// time, host gaps count only where the GPU idles), a Stopwatch elsewhere (the CPU backend is synchronous).
/// </summary>
public static class BenchTiming
{
    /// <summary>How <paramref name="backend"/> is timed, for the output.</summary>
    public static string Method(IBackend backend) =>
        backend is CudaBackend ? "CUDA events on the stream" : "Stopwatch (the backend is synchronous)";

    /// <summary>Median milliseconds of <paramref name="work"/> over <paramref name="repeats"/> runs after <paramref name="warmup"/>.</summary>
    public static double MedianMilliseconds(IBackend backend, Action work, int warmup, int repeats)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        if (backend is CudaBackend cuda)
            return cuda.MeasureMilliseconds(work, warmup, repeats);
        for (int i = 0; i < warmup; i++) work();
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            long start = Stopwatch.GetTimestamp();
            work();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(times);
        return times[repeats / 2];
    }

    /// <summary>Waits for everything queued on <paramref name="backend"/> (nothing to wait for on the CPU).</summary>
    public static void Synchronize(IBackend backend)
    {
        if (backend is CudaBackend cuda) cuda.Synchronize();
    }

    /// <summary>Peak bytes held by tensors: the CUDA pool's peak, or the process's peak working set on the CPU.</summary>
    public static (long Bytes, string What) PeakMemory(IBackend backend) => backend is CudaBackend cuda
        ? ((long)cuda.Memory.PeakBytesInUse, "device memory in tensors (pool peak)")
        : (Process.GetCurrentProcess().PeakWorkingSet64, "process peak working set");
}
