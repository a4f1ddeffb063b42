using System.Collections.ObjectModel;

namespace AccelAes.Loader.SafeTensors;

/// <summary>
/// One tensor of an open safetensors file: name, dtype, shape and where its bytes lie in the file.
/// Instances are created by <see cref="SafeTensorsFile"/> and are only valid with the file that created them.
/// </summary>
public sealed class SafeTensorInfo
{
    internal SafeTensorInfo(string name, SafeTensorDType dtype, long[] shape, long elementCount,
        long byteLength, long fileOffset, string filePath)
    {
        Name = name;
        DType = dtype;
        Shape = new ReadOnlyCollection<long>(shape);
        ElementCount = elementCount;
        ByteLength = byteLength;
        FileOffset = fileOffset;
        FilePath = filePath;
    }

    /// <summary>The tensor's key in the header, e.g. <c>transformer_blocks.0.attn.to_q.weight</c>.</summary>
    public string Name { get; }

    /// <summary>Element type.</summary>
    public SafeTensorDType DType { get; }

    /// <summary>Dimensions, outermost first; empty for a scalar.</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>Number of dimensions.</summary>
    public int Rank => Shape.Count;

    /// <summary>Product of <see cref="Shape"/> (1 for a scalar, 0 when a dimension is 0).</summary>
    public long ElementCount { get; }

    /// <summary>Size of the tensor's data in bytes.</summary>
    public long ByteLength { get; }

    /// <summary>Position of the tensor's first byte, counted from the start of the file.</summary>
    public long FileOffset { get; }

    /// <summary>Full path of the file holding the tensor.</summary>
    public string FilePath { get; }

    /// <summary>
    /// Product of the dimensions, false on 64-bit overflow. A zero dimension makes the count 0 whatever the
    /// others are, so an empty tensor never overflows.
    /// </summary>
    internal static bool TryCountElements(ReadOnlySpan<long> shape, out long count)
    {
        count = 0;
        if (shape.Contains(0L))
            return true;
        long product = 1;
        foreach (var dim in shape)
            if (dim < 0 || Math.BigMul(product, dim, out product) != 0 || product < 0)
                return false;
        count = product;
        return true;
    }

    /// <summary>For example <c>pos_embed.pos_embed F32 [1, 256, 64]</c>.</summary>
    public override string ToString() => $"{Name} {DType.HeaderName()} [{string.Join(", ", Shape)}]";
}
