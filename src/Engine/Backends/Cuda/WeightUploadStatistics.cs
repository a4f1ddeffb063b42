namespace AccelAes.Engine.Backends.Cuda;

/// <summary>
/// Weight streaming through the pinned double buffers (<see cref="CudaBackend.WeightUploads"/>): tensors and bytes
/// read from the source (the memory-mapped safetensors, so page faults count), bytes written on the device (BF16),
/// and the host time spent in <see cref="CudaBackend.UploadWeight"/> — the copy into pinned memory overlapped with
/// the DMA of the previous chunk; the last chunk's DMA may still be in flight when a call returns, which matters
/// only for a single small tensor.
/// </summary>
public sealed record WeightUploadStatistics(long Tensors, ulong SourceBytes, ulong DeviceBytes, TimeSpan Elapsed)
{
    /// <summary>Source bytes per second, in GB/s (10⁹ bytes); 0 before any upload.</summary>
    public double GigabytesPerSecond => Elapsed > TimeSpan.Zero ? SourceBytes / Elapsed.TotalSeconds / 1e9 : 0;

    public override string ToString()
        => $"{Tensors} weights, {SourceBytes / 1e9:0.###} GB read, {DeviceBytes / 1e9:0.###} GB on the device in {Elapsed.TotalSeconds:0.###} s ({GigabytesPerSecond:0.##} GB/s)";
}
