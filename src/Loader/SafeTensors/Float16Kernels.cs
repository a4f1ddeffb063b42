using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace AccelAes.Loader.SafeTensors;

/// <summary>
/// IEEE half ↔ float32. Widening is exact, so it is done with integer bit manipulation that vectorises
/// (the BCL has no vector Half conversion); narrowing goes through <see cref="Half"/>, which rounds to nearest-even.
/// </summary>
internal static class Float16Kernels
{
    private const uint HalfSignMask = 0x8000;
    private const uint HalfMagnitudeMask = 0x7FFF;
    private const uint HalfExponentMask = 0x7C00;
    private const uint HalfMantissaMask = 0x03FF;
    private const int MantissaShift = 13;                          // 23 - 10 mantissa bits
    private const uint NormalRebias = (127 - 15) << 23;            // half exponent bias → float bias
    private const uint InfNaNRebias = (255 - 31) << 23;            // half exponent 31 → float exponent 255
    private const uint SubnormalMagic = 113u << 23;                // 2^-14 as float bits
    private const uint FloatQuietBit = 0x0040_0000;

    internal static float ToFloat32(ushort bits) => BitConverter.UInt32BitsToSingle(Widen(bits));

    internal static ushort FromFloat32(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    private static uint Widen(uint h)
    {
        var sign = (h & HalfSignMask) << 16;
        var magnitude = h & HalfMagnitudeMask;
        var exponent = h & HalfExponentMask;
        var shifted = magnitude << MantissaShift;
        uint result;
        if (exponent == HalfExponentMask)
            result = (shifted + InfNaNRebias) | ((h & HalfMantissaMask) != 0 ? FloatQuietBit : 0u);
        else if (exponent == 0)
            // Subnormal or zero: give it exponent 1, read it as a float and subtract the implicit 2^-14 back out.
            result = BitConverter.SingleToUInt32Bits(
                BitConverter.UInt32BitsToSingle(shifted + SubnormalMagic) - BitConverter.UInt32BitsToSingle(SubnormalMagic));
        else
            result = shifted + NormalRebias;
        return result | sign;
    }

    internal static void ToFloat32(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        var dst = MemoryMarshal.Cast<float, uint>(destination);
        ref var src0 = ref MemoryMarshal.GetReference(source);
        ref var dst0 = ref MemoryMarshal.GetReference(dst);
        nuint n = (nuint)source.Length, i = 0;

        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + (nuint)Vector256<ushort>.Count <= n; i += (nuint)Vector256<ushort>.Count)
            {
                var (lower, upper) = Vector256.Widen(Vector256.LoadUnsafe(ref src0, i));
                Widen(lower).StoreUnsafe(ref dst0, i);
                Widen(upper).StoreUnsafe(ref dst0, i + (nuint)Vector256<uint>.Count);
            }
        }
        for (; i < n; i++)
            Unsafe.Add(ref dst0, i) = Widen(Unsafe.Add(ref src0, i));
    }

    private static Vector256<uint> Widen(Vector256<uint> h)
    {
        var sign = (h & Vector256.Create(HalfSignMask)) << 16;
        var exponent = h & Vector256.Create(HalfExponentMask);
        var shifted = (h & Vector256.Create(HalfMagnitudeMask)) << MantissaShift;

        var normal = shifted + Vector256.Create(NormalRebias);
        var hasMantissa = ~Vector256.Equals(h & Vector256.Create(HalfMantissaMask), Vector256<uint>.Zero);
        var infNaN = (shifted + Vector256.Create(InfNaNRebias)) | (hasMantissa & Vector256.Create(FloatQuietBit));
        var magic = Vector256.Create(SubnormalMagic);
        var subnormal = (Vector256.AsSingle(shifted + magic) - Vector256.AsSingle(magic)).AsUInt32();

        var isInfNaN = Vector256.Equals(exponent, Vector256.Create(HalfExponentMask));
        var isSubnormal = Vector256.Equals(exponent, Vector256<uint>.Zero);
        var result = Vector256.ConditionalSelect(isInfNaN, infNaN, Vector256.ConditionalSelect(isSubnormal, subnormal, normal));
        return result | sign;
    }

    internal static void FromFloat32(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        for (var i = 0; i < source.Length; i++)
            destination[i] = FromFloat32(source[i]);
    }
}
