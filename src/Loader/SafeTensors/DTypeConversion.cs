using System.Numerics;
using System.Runtime.InteropServices;

namespace AccelAes.Loader.SafeTensors;

/// <summary>
/// Converts raw little-endian tensor bytes to <see cref="float"/> or <see cref="long"/>, and float32 data to the
/// storage types. Float narrowing rounds to nearest-even (matching torch), so bf16 weights produced here are
/// bit-identical to those diffusers writes.
/// </summary>
public static class DTypeConversion
{
    /// <summary>Whether <see cref="ToFloat32(ReadOnlySpan{byte}, SafeTensorDType, Span{float})"/> accepts the dtype.</summary>
    /// <remarks>
    /// F8_E4M3 and F8_E5M2 decode exactly (see <see cref="Float8Kernels"/>); F8_E8M0 (an MX scale type) and complex
    /// types are stored raw only.
    /// </remarks>
    public static bool CanConvertToFloat32(SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F8E8M0 or SafeTensorDType.C64 => false,
        _ => true,
    };

    /// <summary>Whether <see cref="ToInt64(ReadOnlySpan{byte}, SafeTensorDType, Span{long})"/> accepts the dtype (integer and bool types).</summary>
    public static bool CanConvertToInt64(SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.Bool or SafeTensorDType.U8 or SafeTensorDType.I8 or SafeTensorDType.I16 or SafeTensorDType.U16
            or SafeTensorDType.I32 or SafeTensorDType.U32 or SafeTensorDType.I64 or SafeTensorDType.U64 => true,
        _ => false,
    };

    /// <summary>
    /// Converts <paramref name="source"/> (elements of <paramref name="dtype"/>) to float32. Integers wider than
    /// 24 bits round to the nearest float; BOOL gives 0 or 1.
    /// </summary>
    /// <exception cref="NotSupportedException">The dtype has no float32 conversion (F8_E8M0, C64).</exception>
    /// <exception cref="ArgumentException">The byte count is not <c>destination.Length × size</c>.</exception>
    public static void ToFloat32(ReadOnlySpan<byte> source, SafeTensorDType dtype, Span<float> destination)
    {
        if (!CanConvertToFloat32(dtype))
            throw new NotSupportedException($"Converting {dtype.HeaderName()} to F32 is not supported.");
        CheckLengths(source, dtype, destination.Length);
        switch (dtype)
        {
            case SafeTensorDType.F32:
                source.CopyTo(MemoryMarshal.AsBytes(destination));
                break;
            case SafeTensorDType.BF16:
                BFloat16Kernels.ToFloat32(MemoryMarshal.Cast<byte, ushort>(source), destination);
                break;
            case SafeTensorDType.F16:
                Float16Kernels.ToFloat32(MemoryMarshal.Cast<byte, ushort>(source), destination);
                break;
            case SafeTensorDType.F8E4M3:
                Float8Kernels.E4M3ToFloat32(source, destination);
                break;
            case SafeTensorDType.F8E5M2:
                Float8Kernels.E5M2ToFloat32(source, destination);
                break;
            case SafeTensorDType.F64:
                ConvertTo(MemoryMarshal.Cast<byte, double>(source), destination);
                break;
            case SafeTensorDType.Bool:
                ConvertBool(source, destination);
                break;
            case SafeTensorDType.U8:
                ConvertTo(source, destination);
                break;
            case SafeTensorDType.I8:
                ConvertTo(MemoryMarshal.Cast<byte, sbyte>(source), destination);
                break;
            case SafeTensorDType.I16:
                ConvertTo(MemoryMarshal.Cast<byte, short>(source), destination);
                break;
            case SafeTensorDType.U16:
                ConvertTo(MemoryMarshal.Cast<byte, ushort>(source), destination);
                break;
            case SafeTensorDType.I32:
                ConvertTo(MemoryMarshal.Cast<byte, int>(source), destination);
                break;
            case SafeTensorDType.U32:
                ConvertTo(MemoryMarshal.Cast<byte, uint>(source), destination);
                break;
            case SafeTensorDType.I64:
                ConvertTo(MemoryMarshal.Cast<byte, long>(source), destination);
                break;
            case SafeTensorDType.U64:
                ConvertTo(MemoryMarshal.Cast<byte, ulong>(source), destination);
                break;
        }
    }

    /// <summary>Converts <paramref name="source"/> to a new float32 array.</summary>
    public static float[] ToFloat32(ReadOnlySpan<byte> source, SafeTensorDType dtype)
    {
        var result = new float[ElementCount(source, dtype)];
        ToFloat32(source, dtype, result);
        return result;
    }

    /// <summary>Converts integer or BOOL elements (token ids, masks) to int64.</summary>
    /// <exception cref="NotSupportedException">The dtype is not an integer or bool type.</exception>
    /// <exception cref="OverflowException">A U64 value exceeds <see cref="long.MaxValue"/>.</exception>
    public static void ToInt64(ReadOnlySpan<byte> source, SafeTensorDType dtype, Span<long> destination)
    {
        if (!CanConvertToInt64(dtype))
            throw new NotSupportedException($"Converting {dtype.HeaderName()} to I64 is not supported; only integer and BOOL tensors are.");
        CheckLengths(source, dtype, destination.Length);
        switch (dtype)
        {
            case SafeTensorDType.I64:
                source.CopyTo(MemoryMarshal.AsBytes(destination));
                break;
            case SafeTensorDType.Bool:
                ConvertBool(source, destination);
                break;
            case SafeTensorDType.U8:
                ConvertTo(source, destination);
                break;
            case SafeTensorDType.I8:
                ConvertTo(MemoryMarshal.Cast<byte, sbyte>(source), destination);
                break;
            case SafeTensorDType.I16:
                ConvertTo(MemoryMarshal.Cast<byte, short>(source), destination);
                break;
            case SafeTensorDType.U16:
                ConvertTo(MemoryMarshal.Cast<byte, ushort>(source), destination);
                break;
            case SafeTensorDType.I32:
                ConvertTo(MemoryMarshal.Cast<byte, int>(source), destination);
                break;
            case SafeTensorDType.U32:
                ConvertTo(MemoryMarshal.Cast<byte, uint>(source), destination);
                break;
            case SafeTensorDType.U64:
                ConvertTo(MemoryMarshal.Cast<byte, ulong>(source), destination);
                break;
        }
    }

    /// <summary>Converts integer or BOOL elements to a new int64 array.</summary>
    public static long[] ToInt64(ReadOnlySpan<byte> source, SafeTensorDType dtype)
    {
        var result = new long[ElementCount(source, dtype)];
        ToInt64(source, dtype, result);
        return result;
    }

    /// <summary>
    /// Stores float32 values as <paramref name="dtype"/> (F32, F64, BF16 or F16) into little-endian bytes.
    /// BF16 and F16 round to nearest-even; values beyond the range become ±Inf; NaN stays NaN.
    /// </summary>
    /// <exception cref="NotSupportedException">The target dtype is not a float type this method writes.</exception>
    public static void FromFloat32(ReadOnlySpan<float> source, SafeTensorDType dtype, Span<byte> destination)
    {
        if (dtype is not (SafeTensorDType.F32 or SafeTensorDType.F64 or SafeTensorDType.BF16 or SafeTensorDType.F16))
            throw new NotSupportedException($"Storing F32 data as {dtype.HeaderName()} is not supported.");
        CheckLengths(destination, dtype, source.Length);
        switch (dtype)
        {
            case SafeTensorDType.F32:
                MemoryMarshal.AsBytes(source).CopyTo(destination);
                break;
            case SafeTensorDType.F64:
                var doubles = MemoryMarshal.Cast<byte, double>(destination);
                for (var i = 0; i < source.Length; i++) doubles[i] = source[i];
                break;
            case SafeTensorDType.BF16:
                BFloat16Kernels.FromFloat32(source, MemoryMarshal.Cast<byte, ushort>(destination));
                break;
            case SafeTensorDType.F16:
                Float16Kernels.FromFloat32(source, MemoryMarshal.Cast<byte, ushort>(destination));
                break;
        }
    }

    /// <summary>Rounds one float32 to bfloat16 bits (nearest-even; NaN stays a quiet NaN with its sign).</summary>
    public static ushort Float32ToBFloat16(float value) => BFloat16Kernels.FromFloat32(value);

    /// <summary>Widens bfloat16 bits to float32 (exact).</summary>
    public static float BFloat16ToFloat32(ushort bits) => BFloat16Kernels.ToFloat32(bits);

    /// <summary>Rounds float32 values to bfloat16 bits (nearest-even), vectorised.</summary>
    public static void Float32ToBFloat16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        CheckSameLength(source.Length, destination.Length);
        BFloat16Kernels.FromFloat32(source, destination);
    }

    /// <summary>Widens bfloat16 bits to float32, vectorised.</summary>
    public static void BFloat16ToFloat32(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        CheckSameLength(source.Length, destination.Length);
        BFloat16Kernels.ToFloat32(source, destination);
    }

    /// <summary>Widens IEEE half bits to float32, vectorised.</summary>
    public static void Float16ToFloat32(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        CheckSameLength(source.Length, destination.Length);
        Float16Kernels.ToFloat32(source, destination);
    }

    // Loops for the rarely used dtypes; generic math specialises per type pair, and they are not hot enough to
    // deserve hand vectorisation. Float targets round to nearest; integer targets throw on overflow (U64 → I64).
    private static void ConvertTo<TFrom, TTo>(ReadOnlySpan<TFrom> source, Span<TTo> destination)
        where TFrom : INumberBase<TFrom>
        where TTo : INumberBase<TTo>
    {
        var toFloat = typeof(TTo) == typeof(float);
        for (var i = 0; i < source.Length; i++)
            destination[i] = toFloat ? TTo.CreateTruncating(source[i]) : TTo.CreateChecked(source[i]);
    }

    // safetensors BOOL bytes are 0 or 1; any other byte still means true.
    private static void ConvertBool<TTo>(ReadOnlySpan<byte> source, Span<TTo> destination)
        where TTo : INumberBase<TTo>
    {
        for (var i = 0; i < source.Length; i++)
            destination[i] = source[i] != 0 ? TTo.One : TTo.Zero;
    }

    private static int ElementCount(ReadOnlySpan<byte> bytes, SafeTensorDType dtype)
    {
        var size = dtype.ByteSize();
        if (bytes.Length % size != 0)
            throw new ArgumentException($"{bytes.Length} bytes is not a whole number of {dtype.HeaderName()} elements.");
        return bytes.Length / size;
    }

    private static void CheckLengths(ReadOnlySpan<byte> bytes, SafeTensorDType dtype, int elements)
    {
        if ((long)elements * dtype.ByteSize() != bytes.Length)
            throw new ArgumentException(
                $"{bytes.Length} bytes of {dtype.HeaderName()} do not match {elements} elements ({dtype.ByteSize()} bytes each).");
    }

    private static void CheckSameLength(int source, int destination)
    {
        if (source != destination)
            throw new ArgumentException($"Source has {source} elements but destination has {destination}.");
    }
}
