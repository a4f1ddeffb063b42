namespace AccelAes.Loader.SafeTensors;

/// <summary>
/// Exact decoding of the two OCP 8-bit float formats to float32 through 256-entry tables (every fp8 value is
/// exactly representable in float32, so decoding is a lookup, never a rounding).
/// <list type="bullet">
/// <item><c>F8_E4M3</c> = torch.float8_e4m3fn: bias 7, subnormals 2^-6·m/8, no infinities, only S.1111.111 is NaN
/// (max finite ±448).</item>
/// <item><c>F8_E5M2</c> = torch.float8_e5m2: IEEE-like, bias 15, subnormals 2^-14·m/4, exponent 31 is ±Inf (m = 0)
/// or NaN.</item>
/// </list>
/// Subnormals must not be flushed: a decoder that flushes them moves a FLUX forward by ~0.4.
/// </summary>
internal static class Float8Kernels
{
    private static readonly float[] E4M3 = BuildE4M3();
    private static readonly float[] E5M2 = BuildE5M2();

    public static float E4M3ToFloat32(byte bits) => E4M3[bits];

    public static float E5M2ToFloat32(byte bits) => E5M2[bits];

    public static void E4M3ToFloat32(ReadOnlySpan<byte> source, Span<float> destination) => Lookup(E4M3, source, destination);

    public static void E5M2ToFloat32(ReadOnlySpan<byte> source, Span<float> destination) => Lookup(E5M2, source, destination);

    private static void Lookup(float[] table, ReadOnlySpan<byte> source, Span<float> destination)
    {
        for (int i = 0; i < source.Length; i++)
            destination[i] = table[source[i]];
    }

    // NaN keeps the code's sign bit (as torch's cast does); (float)-double.NaN would not say which sign it had.
    private static float Signed(int bits, double magnitude)
    {
        bool negative = (bits & 0x80) != 0;
        if (double.IsNaN(magnitude))
            return BitConverter.Int32BitsToSingle(negative ? unchecked((int)0xFFC00000) : 0x7FC00000);
        return (float)(negative ? -magnitude : magnitude);
    }

    private static float[] BuildE4M3()
    {
        var table = new float[256];
        for (int bits = 0; bits < 256; bits++)
        {
            int exponent = (bits >> 3) & 0xF, mantissa = bits & 0x7;
            double magnitude = exponent == 0xF && mantissa == 0x7
                ? double.NaN
                : exponent == 0 ? Math.ScaleB(mantissa / 8.0, -6) : Math.ScaleB(1 + mantissa / 8.0, exponent - 7);
            table[bits] = Signed(bits, magnitude);
        }
        return table;
    }

    private static float[] BuildE5M2()
    {
        var table = new float[256];
        for (int bits = 0; bits < 256; bits++)
        {
            int exponent = (bits >> 2) & 0x1F, mantissa = bits & 0x3;
            double magnitude = exponent == 0x1F
                ? mantissa == 0 ? double.PositiveInfinity : double.NaN
                : exponent == 0 ? Math.ScaleB(mantissa / 4.0, -14) : Math.ScaleB(1 + mantissa / 4.0, exponent - 15);
            table[bits] = Signed(bits, magnitude);
        }
        return table;
    }
}
