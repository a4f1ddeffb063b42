namespace AccelAes.Engine.Sampling;

/// <summary>
/// The engine's seeded initial noise: element i of a request with seed s is a function of (s, i) only, so the
/// same seed gives the same latents on every run, backend and batch layout, and a GPU kernel can generate it
/// in parallel. It does not reproduce PyTorch's generator (no engine can without re-implementing
/// Philox + torch's Box–Muller layout), so images differ from diffusers' for the same seed number.
///
/// Generator: SplitMix64 (Steele, Lea, Flood 2014) over the counter (s · 2⁶⁴/φ + i), giving 64 random bits per
/// element; the high 24 and the next 24 bits form two uniforms u₁ ∈ (0, 1], u₂ ∈ [0, 1), and the Box–Muller
/// transform z = √(−2 ln u₁) · cos(2π u₂) is evaluated in double and rounded to fp32.
/// </summary>
public static class GaussianNoise
{
    /// <summary>Fills <paramref name="destination"/> with N(0, 1) samples for elements [offset, offset + length).</summary>
    public static void Fill(Span<float> destination, ulong seed, long offset = 0)
    {
        for (int i = 0; i < destination.Length; i++)
            destination[i] = Sample(seed, (ulong)(offset + i));
    }

    public static float[] Create(int count, ulong seed)
    {
        var values = new float[count];
        Fill(values, seed);
        return values;
    }

    /// <summary>The sample for element <paramref name="index"/> of seed <paramref name="seed"/>.</summary>
    public static float Sample(ulong seed, ulong index)
    {
        ulong bits = SplitMix64(seed * 0x9E3779B97F4A7C15UL + index);
        double u1 = ((bits >> 40) + 1) / 16777216.0;          // (0, 1]: never log(0)
        double u2 = ((bits >> 16) & 0xFFFFFF) / 16777216.0;   // [0, 1)
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2));
    }

    private static ulong SplitMix64(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
