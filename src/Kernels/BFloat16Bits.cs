namespace AccelAes.Kernels;

/// <summary>
/// bfloat16 as raw bits: the host-side reference for the conversions in Cuda/common.cuh. The two must agree
/// bit for bit: f32 → bf16 rounds to nearest, ties to even; overflow rounds to ±infinity; a NaN stays a NaN
/// (sign and top payload bits kept, quiet bit forced so a payload that lived in the dropped bits cannot turn
/// it into an infinity).
/// </summary>
public static class BFloat16Bits
{
    /// <summary>f32 → bf16 bits, round to nearest even.</summary>
    public static ushort FromSingle(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFFu) > 0x7F80_0000u)
            return (ushort)((bits >> 16) | 0x0040u);
        // Add half an ulp of bf16 minus one, plus the lowest kept bit: ties go to the even neighbour.
        var rounded = bits + 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)(rounded >> 16);
    }

    /// <summary>bf16 bits → f32 (exact).</summary>
    public static float ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>IEEE half bits → bf16 bits (through f32, which holds every half exactly, so one rounding).</summary>
    public static ushort FromHalfBits(ushort halfBits) => FromSingle((float)BitConverter.UInt16BitsToHalf(halfBits));

    /// <summary>Rounds <paramref name="value"/> to the nearest bf16 and back: what storing it in bf16 costs.</summary>
    public static float Round(float value) => ToSingle(FromSingle(value));
}
