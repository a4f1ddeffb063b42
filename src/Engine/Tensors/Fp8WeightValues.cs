using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Tensors;

/// <summary>
/// The values of an fp8 Linear weight (<see cref="IBackend.UploadFp8Weight"/>): decode(code) · scale of its row, in
/// fp32 — exact per element (the decode is exact, the product one fp32 rounding), the numbers the CPU backend computes
/// with and the CUDA backend rounds once to bf16.
/// </summary>
public static class Fp8WeightValues
{
    /// <summary>Checks the operands' sizes against [out, in] and returns the dequantised weight, row-major.</summary>
    public static float[] Dequantise(ReadOnlySpan<byte> codes, ReadOnlySpan<float> scales, Shape shape)
    {
        Check(codes.Length, scales.Length, shape);
        var values = new float[codes.Length];
        if (values.Length > 0)
            Float8Quantizer.DequantizeRows(codes, scales, shape[1], values);
        return values;
    }

    /// <summary>An fp8 weight is a matrix [out, in] with one code per element and one scale per output row.</summary>
    public static void Check(int codes, int scales, Shape shape)
    {
        if (shape.Rank != 2)
            throw new ArgumentException($"An fp8 weight is a matrix [out, in]; got {shape}.");
        if (codes != shape.ElementCount)
            throw new ArgumentException($"{codes} fp8 codes do not fill {shape}.");
        if (scales != shape[0])
            throw new ArgumentException($"{scales} scales for {shape}: an fp8 weight has one scale per output row ({shape[0]}).");
    }
}
