using System.Runtime.InteropServices;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.SingleFile;

namespace AccelAes.Engine.Weights;

/// <summary>
/// Weights of a single-file checkpoint under diffusers' names. A view that is one contiguous float range of the
/// file (a renamed tensor, one q/k/v slice of a fused tensor) goes to the backend straight from the memory map;
/// only the final layer's swapped halves (raw bytes, same dtype) and fp8 tensors pass through a buffer of that one
/// tensor — never a second copy of the checkpoint. e4m3 Linear weights go to the backend as codes and scale
/// (<see cref="IBackend.UploadFp8Weight"/>: fp8 stays fp8 on the CUDA device); other fp8 tensors (E5M2, biases,
/// convolutions) are decoded × scale in fp32, the CPU semantics.
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
        if (IsFp8LinearWeight(name, view, shape))
            return UploadFp8(view, shape, backend);
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

    /// <summary>An e4m3 Linear weight matrix (plain or ComfyUI-scaled): its codes go to the backend as they are, with its scale.</summary>
    private static bool IsFp8LinearWeight(string name, MappedTensor view, Shape shape)
        => !view.IsIdentity && LinearWeightNames.IsLinearWeight(name, shape.Rank) && view.Parts.All(p => p.Source.DType == SafeTensorDType.F8E4M3);

    /// <summary>
    /// The file's codes (q / k / v rows or swapped halves joined in order) and the per-tensor scale (ComfyUI's
    /// <c>scale_weight</c>, or a mixed-precision layer's <c>weight_scale</c>; 1 for a plain fp8 file) repeated per output row: <see cref="IBackend.UploadFp8Weight"/>'s values decode(code) · scale are
    /// exactly what <see cref="SingleFileCheckpoint.ReadFloat32"/> gives, so the CPU computes the same numbers and the
    /// CUDA backend keeps the fp8 bytes.
    /// </summary>
    private Tensor UploadFp8(MappedTensor view, Shape shape, IBackend backend)
    {
        float scale = view.Scale is { } info ? DTypeConversion.ToFloat32(checkpoint.Set.GetBytes(info), info.DType)[0] : 1f;
        var scales = new float[shape[0]];
        Array.Fill(scales, scale);
        return backend.UploadFp8Weight(CodesOf(view), scales, shape);
    }

    /// <summary>The parts' e4m3 codes in order, straight from the map when there is one part.</summary>
    private ReadOnlySpan<byte> CodesOf(MappedTensor view)
    {
        if (view.Parts.Count == 1) return PartBytes(view.Parts[0]);
        var codes = new byte[view.ElementCount];
        int at = 0;
        foreach (var part in view.Parts)
        {
            var bytes = PartBytes(part);
            bytes.CopyTo(codes.AsSpan(at));
            at += bytes.Length;
        }
        return codes;
    }

    private ReadOnlySpan<byte> PartBytes(RowSlice part)
    {
        long rowBytes = part.RowElements; // one byte per e4m3 element
        return checkpoint.Set.FileOf(part.Source).GetBytes(part.Source, part.FirstRow * rowBytes, checked((int)(part.RowCount * rowBytes)));
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
