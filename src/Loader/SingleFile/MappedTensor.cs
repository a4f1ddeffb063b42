using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>Rows [<see cref="FirstRow"/>, <see cref="FirstRow"/> + <see cref="RowCount"/>) of a file tensor (dimension 0).</summary>
public sealed record RowSlice(SafeTensorInfo Source, long FirstRow, long RowCount)
{
    /// <summary>Elements in one row (product of the dimensions after the first; 1 for a vector).</summary>
    public long RowElements => Source.Shape.Skip(1).Aggregate(1L, (a, d) => a * d);

    public long ElementCount => RowCount * RowElements;

    public bool IsWhole => FirstRow == 0 && RowCount == (Source.Rank == 0 ? 1 : Source.Shape[0]);
}

/// <summary>
/// A diffusers-named tensor as a view over the mapped file: the row ranges of file tensors it is made of, in
/// order (one whole tensor for a renamed copy, one slice for a q/k/v split, two swapped halves for the final
/// layer's (shift, scale) → (scale, shift)), and the fp8 scale that multiplies them. Nothing is copied until a
/// backend asks for the tensor.
/// </summary>
/// <param name="Scale">A one-element tensor (ComfyUI <c>scale_weight</c>) multiplying every decoded element, or null.</param>
public sealed record MappedTensor(string Name, long[] Shape, IReadOnlyList<RowSlice> Parts, SafeTensorInfo? Scale)
{
    /// <summary>
    /// True for a tensor no file key holds: the identity matrix of <see cref="Shape"/> (diffusers sets SD3's CLIP-L
    /// <c>text_projection</c> to <c>torch.eye</c>). It has no parts; its values are made when read.
    /// </summary>
    public bool IsIdentity { get; private init; }

    public static MappedTensor IdentityMatrix(string name, long n) => new(name, [n, n], [], null) { IsIdentity = true };

    public long ElementCount => IsIdentity ? Shape.Aggregate(1L, (a, d) => a * d) : Parts.Sum(p => p.ElementCount);

    /// <summary>The file tensor the view starts with, for messages ("(generated)" for an identity).</summary>
    public string FirstSourceName => Parts.Count > 0 ? Parts[0].Source.Name : "(generated identity)";

    /// <summary>True when the bytes can be handed over as they lie in the file: one contiguous range, no scale, a float dtype.</summary>
    public bool IsZeroCopy => Parts.Count == 1 && Scale is null
        && Parts[0].Source.DType is SafeTensorDType.F32 or SafeTensorDType.F16 or SafeTensorDType.BF16;
}
