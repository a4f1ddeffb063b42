using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace AccelAes.Loader.SafeTensors;

/// <summary>
/// bfloat16 ↔ float32. A bf16 is the upper half of a float32, so widening is a shift; narrowing rounds to
/// nearest-even by adding 0x7FFF plus the kept LSB before truncating, which is what torch's <c>.to(bfloat16)</c>
/// does, so weights rounded here match bf16 checkpoints bit for bit.
/// </summary>
internal static class BFloat16Kernels
{
    private const uint AbsMask = 0x7FFF_FFFF;
    private const uint PositiveInfinity = 0x7F80_0000;
    private const uint QuietBit = 0x0040;

    internal static float ToFloat32(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>Round to nearest, ties to even. NaN stays NaN (sign kept, quiet bit set) instead of rounding into Inf.</summary>
    internal static ushort FromFloat32(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & AbsMask) > PositiveInfinity)
            return (ushort)((bits >> 16) | QuietBit);
        var keptLsb = (bits >> 16) & 1;
        return (ushort)((bits + 0x7FFF + keptLsb) >> 16);
    }

    internal static void ToFloat32(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        var dst = MemoryMarshal.Cast<float, uint>(destination);
        ref var src0 = ref MemoryMarshal.GetReference(source);
        ref var dst0 = ref MemoryMarshal.GetReference(dst);
        nuint n = (nuint)source.Length, i = 0;

        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + (nuint)Vector512<ushort>.Count <= n; i += (nuint)Vector512<ushort>.Count)
            {
                var (lower, upper) = Vector512.Widen(Vector512.LoadUnsafe(ref src0, i));
                (lower << 16).StoreUnsafe(ref dst0, i);
                (upper << 16).StoreUnsafe(ref dst0, i + (nuint)Vector512<uint>.Count);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + (nuint)Vector256<ushort>.Count <= n; i += (nuint)Vector256<ushort>.Count)
            {
                var (lower, upper) = Vector256.Widen(Vector256.LoadUnsafe(ref src0, i));
                (lower << 16).StoreUnsafe(ref dst0, i);
                (upper << 16).StoreUnsafe(ref dst0, i + (nuint)Vector256<uint>.Count);
            }
        }
        if (Vector128.IsHardwareAccelerated)
        {
            for (; i + (nuint)Vector128<ushort>.Count <= n; i += (nuint)Vector128<ushort>.Count)
            {
                var (lower, upper) = Vector128.Widen(Vector128.LoadUnsafe(ref src0, i));
                (lower << 16).StoreUnsafe(ref dst0, i);
                (upper << 16).StoreUnsafe(ref dst0, i + (nuint)Vector128<uint>.Count);
            }
        }
        for (; i < n; i++)
            Unsafe.Add(ref dst0, i) = (uint)Unsafe.Add(ref src0, i) << 16;
    }

    internal static void FromFloat32(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        var src = MemoryMarshal.Cast<float, uint>(source);
        ref var src0 = ref MemoryMarshal.GetReference(src);
        ref var dst0 = ref MemoryMarshal.GetReference(destination);
        nuint n = (nuint)source.Length, i = 0;

        if (Vector256.IsHardwareAccelerated)
        {
            var step = (nuint)Vector256<ushort>.Count;
            for (; i + step <= n; i += step)
            {
                var lower = Round(Vector256.LoadUnsafe(ref src0, i));
                var upper = Round(Vector256.LoadUnsafe(ref src0, i + (nuint)Vector256<uint>.Count));
                // Narrow keeps the low 16 bits of each lane, which after Round hold the bf16 result.
                Vector256.Narrow(lower, upper).StoreUnsafe(ref dst0, i);
            }
        }
        for (; i < n; i++)
            Unsafe.Add(ref dst0, i) = FromFloat32(BitConverter.UInt32BitsToSingle(Unsafe.Add(ref src0, i)));
    }

    private static Vector256<uint> Round(Vector256<uint> bits)
    {
        var isNaN = Vector256.GreaterThan(bits & Vector256.Create(AbsMask), Vector256.Create(PositiveInfinity));
        var keptLsb = (bits >> 16) & Vector256<uint>.One;
        var rounded = (bits + Vector256.Create(0x7FFFu) + keptLsb) >> 16;
        var quietNaN = (bits >> 16) | Vector256.Create(QuietBit);
        return Vector256.ConditionalSelect(isNaN, quietNaN, rounded);
    }
}
