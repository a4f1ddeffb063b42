using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Benchmarks;

/// <summary>
/// What each residency policy adds to a denoising step (`bench --offload`): none and encoders keep the transformer
/// resident through the steps, so they add nothing per step (encoders moves text encoders and the transformer/VAE
/// between generations: a load, not a step cost); sequential streams the blocks every forward. Measured as the median
/// eager forward of the transformer with its blocks streamed minus the same of the resident transformer (eager too:
/// streamed steps are never graph-captured), with the weight stream's bytes and the copy stream's bandwidth.
/// </summary>
/// <param name="ResidentMilliseconds">Median eager forward, every weight resident.</param>
/// <param name="StreamedMilliseconds">Median eager forward, blocks streamed through two slots.</param>
/// <param name="BytesPerForward">Block bytes uploaded per forward (every block once).</param>
/// <param name="BytesPerSecond">The copy stream's bandwidth from its events; null where no device time was measured (the emulator).</param>
/// <param name="HostBytes">Page-locked host memory holding the blocks.</param>
/// <param name="SlotBytes">One device slot (the largest block); two are held.</param>
public sealed record SequentialStepCost(double ResidentMilliseconds, double StreamedMilliseconds, double BytesPerForward, double? BytesPerSecond,
    ulong HostBytes, ulong SlotBytes)
{
    /// <summary>Time sequential adds to each step (streamed − resident); NaN when no time was measured.</summary>
    public double AddedMilliseconds => StreamedMilliseconds > 0 || ResidentMilliseconds > 0 ? StreamedMilliseconds - ResidentMilliseconds : double.NaN;
}

public static class ResidencyBenchmark
{
    /// <summary>
    /// Builds the transformer again with its blocks in a <see cref="BlockWeightStream"/> (on <paramref name="device"/>
    /// itself: streamed weights are CUDA tensors) and times both models' forwards eagerly.
    /// </summary>
    public static SequentialStepCost MeasureSequential(CudaBackend device, BenchModel resident, ModelBenchmarkRequest request, IWeightSource weights)
    {
        double residentMs = BenchTiming.MedianMilliseconds(device, () => resident.Forward().Dispose(), request.Warmup, request.Repeats);
        using var stream = device.CreateBlockStream();
        var streamed = BenchModel.Build(request.Config, new StreamedBlockWeightSource(weights, stream), device, request.Resolution, request.Batch);
        streamed.Forward().Dispose(); // the first forward sizes the slots and uploads every block once
        var before = stream.Statistics();
        double streamedMs = BenchTiming.MedianMilliseconds(device, () => streamed.Forward().Dispose(), request.Warmup, request.Repeats);
        var after = stream.Statistics();
        int forwards = request.Warmup + request.Repeats;
        double bytesPerForward = (after.UploadedBytes - before.UploadedBytes) / (double)forwards;
        double timedMs = after.TimedMilliseconds - before.TimedMilliseconds;
        double? rate = timedMs > 0 ? (after.TimedBytes - before.TimedBytes) / (timedMs / 1000) : null;
        return new SequentialStepCost(residentMs, streamedMs, bytesPerForward, rate, after.HostBytes, after.SlotBytes);
    }
}
