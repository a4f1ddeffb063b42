using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>
/// How an fp8 Linear weight (<see cref="DType.F8E4M3"/>, [out, in]) lies in its one device buffer: the e4m3 codes,
/// row-major, at offset 0, then the fp32 scales (one per output row) at <see cref="ScalesOffset"/>, 16-byte aligned
/// (the buffer's start is a pool block's, 256-byte aligned; 16 is what vector loads of the scales need, and keeps a
/// small weight's padding small). One
/// buffer, not two tensors, so everything that moves a weight's bytes (pinned staging, <see cref="BlockWeightStream"/>'s
/// host copy and slots) moves the scales with the codes.
/// </summary>
internal static class Fp8WeightLayout
{
    private const ulong Alignment = 16;

    /// <summary>Where the scales start: the codes' bytes rounded up to the alignment.</summary>
    public static ulong ScalesOffset(Shape shape) => ((ulong)shape.ElementCount + Alignment - 1) / Alignment * Alignment;

    /// <summary>Bytes of the whole weight: codes, padding, scales.</summary>
    public static ulong Bytes(Shape shape) => ScalesOffset(shape) + 4UL * (ulong)Rows(shape);

    /// <summary>Output rows (one scale each).</summary>
    public static int Rows(Shape shape) => shape.Rank == 0 ? 1 : shape[0];
}
