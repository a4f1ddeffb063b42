namespace AccelAes.Loader.SafeTensors;

/// <summary>
/// Quantises a weight matrix [rows, columns] to F8_E4M3 (torch.float8_e4m3fn) with one fp32 scale per row (output
/// channel), the rule <c>--weights fp8</c> applies at load:
/// <list type="bullet">
/// <item>scale s = max|row| / 448 in fp32 (448 = E4M3's largest finite value), so the row's largest element maps to
/// ±448; a row of zeros gets s = 0 and all-zero codes;</item>
/// <item>code = E4M3(x / s) with x / s computed in fp32, then rounded to the nearest E4M3 value, ties to even mantissa,
/// keeping subnormals (2^-9 steps below 2^-6; |x / s| ≤ 2^-10 rounds to ±0);</item>
/// <item>saturating: anything above 448 (x / s can exceed it by an ulp) becomes ±448, never the NaN code
/// (torch's plain cast would give NaN there, which is why its users clamp first);</item>
/// <item>dequantised value = decode(code) · s in fp32 — what the CPU backend computes with.</item>
/// </list>
/// Non-finite weights have no scale; the caller names the tensor.
/// </summary>
public static class Float8Quantizer
{
    /// <summary>E4M3's largest finite magnitude (S.1111.110).</summary>
    public const float E4M3Max = 448f;

    /// <summary>
    /// Quantises <paramref name="values"/> (row-major [rows, columns]) into <paramref name="codes"/> and
    /// <paramref name="scales"/> (one per row). Returns false, writing nothing useful, when a value is NaN or infinite.
    /// </summary>
    public static bool QuantizeRows(ReadOnlySpan<float> values, int columns, Span<byte> codes, Span<float> scales)
    {
        if (columns <= 0 || values.Length % columns != 0)
            throw new ArgumentException($"{values.Length} values are not whole rows of {columns} columns.");
        int rows = values.Length / columns;
        if (codes.Length != values.Length || scales.Length != rows)
            throw new ArgumentException("codes must hold one byte per value and scales one float per row.");
        for (int r = 0; r < rows; r++)
        {
            var row = values.Slice(r * columns, columns);
            float max = 0;
            foreach (float x in row)
            {
                if (!float.IsFinite(x)) return false;
                max = Math.Max(max, Math.Abs(x));
            }
            float scale = max / E4M3Max;
            scales[r] = scale;
            var rowCodes = codes.Slice(r * columns, columns);
            for (int c = 0; c < columns; c++)
                rowCodes[c] = scale == 0 ? (byte)0 : ToE4M3(row[c] / scale);
        }
        return true;
    }

    /// <summary>decode(code) · scale per row, in fp32 (the exact dequantised weights).</summary>
    public static void DequantizeRows(ReadOnlySpan<byte> codes, ReadOnlySpan<float> scales, int columns, Span<float> destination)
    {
        for (int i = 0; i < codes.Length; i++)
            destination[i] = Float8Kernels.E4M3ToFloat32(codes[i]) * scales[i / columns];
    }

    /// <summary>
    /// The E4M3 code nearest to <paramref name="x"/> (ties to even mantissa), saturating at ±448. The arithmetic is
    /// in double, where scaling a float by a power of two and rounding to an integer are exact.
    /// </summary>
    public static byte ToE4M3(float x)
    {
        if (float.IsNaN(x)) throw new ArgumentException("NaN has no saturating E4M3 code.", nameof(x));
        byte sign = (byte)(float.IsNegative(x) ? 0x80 : 0);
        double magnitude = Math.Abs((double)x);
        if (magnitude >= E4M3Max) return (byte)(sign | 0x7E);
        int code;
        if (magnitude < Math.ScaleB(1.0, -6))
        {
            // Subnormals m · 2^-9 (m = 0..7); m = 8 is the smallest normal, whose code is 8 too (exponent 1, mantissa 0).
            code = (int)Math.Round(Math.ScaleB(magnitude, 9), MidpointRounding.ToEven);
        }
        else
        {
            int exponent = Math.ILogB(magnitude);
            int steps = (int)Math.Round(Math.ScaleB(magnitude, 3 - exponent), MidpointRounding.ToEven); // 8..16 eighths
            if (steps == 16) { exponent++; steps = 8; }
            code = ((exponent + 7) << 3) | (steps - 8);
        }
        return (byte)(sign | code);
    }
}
