using System.Runtime.InteropServices;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.SingleFile;

namespace AccelAes.Engine.Weights;

/// <summary>
/// Weights of a single-file checkpoint under diffusers' names. A view that is one contiguous float range of the
/// file (a renamed tensor, one q/k/v slice of a fused tensor) goes to the backend straight from the memory map;
/// only the final layer's swapped halves (raw bytes, same dtype) and fp8 tensors (decoded × scale in fp32, the CPU
/// semantics) pass through a buffer of that one tensor — never a second copy of the checkpoint.
/// </summary>
public sealed class SingleFileWeightSource(SingleFileCheckpoint checkpoint, SingleFilePart part) : IWeightSource
{
    /// <summary>The file's transformer.</summary>
    public SingleFileWeightSource(SingleFileCheckpoint checkpoint) : this(checkpoint, checkpoint.Transformer) { }

    public string Description => part.Component == SingleFileCheckpoint.TransformerComponent ? checkpoint.Source : $"{checkpoint.Source} ({part.Component})";

    public bool Contains(string name) => part.Tensors.ContainsKey(name);

    public IEnumerable<string> Names => part.Tensors.Keys;

    public Tensor Load(string name, Shape shape, IBackend backend)
    {
        if (!part.Tensors.TryGetValue(name, out var view))
            throw new WeightShapeException(name, checkpoint.Source, "is missing (no tensor of the file maps to it)");
        if (view.Shape.Length != shape.Rank || !view.Shape.SequenceEqual(shape.Dims.ToArray().Select(d => (long)d)))
            throw new WeightShapeException(name, checkpoint.Source,
                $"(from '{view.FirstSourceName}') has shape [{string.Join(", ", view.Shape)}], but the config implies {shape}");
        if (view.IsZeroCopy)
            return backend.UploadWeight(checkpoint.RawBytes(view), ToDType(view.Parts[0].Source.DType), shape);
        SafeTensorDType? first = view.IsIdentity ? null : view.Parts[0].Source.DType;
        if (first is not null && view.Scale is null && first is SafeTensorDType.F32 or SafeTensorDType.F16 or SafeTensorDType.BF16
            && view.Parts.All(p => p.Source.DType == first))
            return backend.UploadWeight(ConcatenatedBytes(view), ToDType(first.Value), shape);
        var values = new float[shape.ElementCount];
        checkpoint.ReadFloat32(view, values);
        return backend.UploadWeight(MemoryMarshal.AsBytes(values.AsSpan()), DType.F32, shape);
    }

    private byte[] ConcatenatedBytes(MappedTensor view)
    {
        var bytes = new byte[view.ElementCount * view.Parts[0].Source.DType.ByteSize()];
        int at = 0;
        foreach (var part in view.Parts)
        {
            var slice = new MappedTensor(view.Name, [part.RowCount], [part], null);
            var raw = checkpoint.RawBytes(slice);
            raw.CopyTo(bytes.AsSpan(at));
            at += raw.Length;
        }
        return bytes;
    }

    private static DType ToDType(SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F32 => DType.F32,
        SafeTensorDType.F16 => DType.F16,
        _ => DType.BF16,
    };
}
