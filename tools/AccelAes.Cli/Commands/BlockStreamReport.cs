using AccelAes.Engine.Backends.Cuda;

namespace AccelAes.Cli.Commands;

/// <summary>One line on what <c>--offload sequential</c> streamed: blocks, slot and host bytes, uploads and the weight stream's bandwidth.</summary>
internal static class BlockStreamReport
{
    public static string Line(BlockStreamStatistics s, CudaBackend backend)
        => $"sequential: {s.Blocks} transformer blocks in {Ui.Bytes((long)s.HostBytes)} of pinned host memory, two device slots of {Ui.Bytes((long)s.SlotBytes)}; " +
           $"{s.Uploads} block uploads, {Ui.Bytes((long)s.UploadedBytes)}; " + Bandwidth(s, backend);

    /// <summary>The weight stream's bytes per second from the copy stream's events, or why there is no GPU figure.</summary>
    public static string Bandwidth(BlockStreamStatistics s, CudaBackend backend)
        => s.BytesPerSecond is double rate
            ? $"weight stream {rate / 1e9:0.##} GB/s (copy-stream events)"
            : $"weight stream bandwidth not measured: {backend.Device.Name} timed no copy (the emulator's events measure no time; not a GPU figure)";
}
