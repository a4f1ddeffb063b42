using System.Collections.ObjectModel;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.PyTorch;

/// <summary>
/// One tensor of a PyTorch checkpoint: its state-dict name, element type, shape and strides, and where its bytes lie
/// in the checkpoint file (the storage record <c>data/&lt;key&gt;</c> plus the storage offset). Only contiguous
/// tensors are admitted, so the bytes are one range of the file.
/// </summary>
public sealed class PyTorchTensorInfo
{
    internal PyTorchTensorInfo(string name, SafeTensorDType dtype, long[] shape, long[] strides, long storageOffset,
        string storageKey, long elementCount, long fileOffset)
    {
        Name = name;
        DType = dtype;
        Shape = new ReadOnlyCollection<long>(shape);
        Strides = new ReadOnlyCollection<long>(strides);
        StorageOffset = storageOffset;
        StorageKey = storageKey;
        ElementCount = elementCount;
        ByteLength = elementCount * dtype.ByteSize();
        FileOffset = fileOffset;
    }

    /// <summary>The state-dict key, e.g. <c>visual.transformer.resblocks.0.attn.in_proj_weight</c>.</summary>
    public string Name { get; }

    /// <summary>Element type (torch.float32 → F32, torch.bfloat16 → BF16, torch.int64 → I64, …).</summary>
    public SafeTensorDType DType { get; }

    /// <summary>Dimensions, outermost first; empty for a scalar.</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>Strides in elements, as pickled (contiguous: each the product of the later dimensions).</summary>
    public IReadOnlyList<long> Strides { get; }

    /// <summary>Offset of the first element within its storage, in elements.</summary>
    public long StorageOffset { get; }

    /// <summary>The storage's key: its bytes are the zip record <c>&lt;archive&gt;/data/&lt;key&gt;</c>.</summary>
    public string StorageKey { get; }

    /// <summary>Product of <see cref="Shape"/>.</summary>
    public long ElementCount { get; }

    /// <summary>Size of the tensor's data in bytes.</summary>
    public long ByteLength { get; }

    /// <summary>Position of the tensor's first byte, counted from the start of the checkpoint file.</summary>
    public long FileOffset { get; }

    /// <summary>For example <c>visual.proj F16 [1280, 1024]</c>.</summary>
    public override string ToString() => $"{Name} {DType.HeaderName()} [{string.Join(", ", Shape)}]";
}
