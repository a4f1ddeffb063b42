using Xunit.Abstractions;

namespace AccelAes.Kernels.Tests;

public class BFloat16Tests(ITestOutputHelper output)
{
    private static float F(uint bits) => BitConverter.UInt32BitsToSingle(bits);

    [Theory]
    [InlineData(0x3F800000u, 0x3F80)] // 1.0 exact
    [InlineData(0x3F808000u, 0x3F80)] // 1 + half ulp: tie, lower neighbour is even → down
    [InlineData(0x3F818000u, 0x3F82)] // tie, upper neighbour is even → up
    [InlineData(0x3F808001u, 0x3F81)] // just above the tie → up
    [InlineData(0x3F807FFFu, 0x3F80)] // just below the tie → down
    [InlineData(0x7F7FFFFFu, 0x7F80)] // f32 max rounds to +inf
    [InlineData(0xFF7FFFFFu, 0xFF80)] // -f32 max rounds to -inf
    [InlineData(0x7F800000u, 0x7F80)] // +inf
    [InlineData(0x80000000u, 0x8000)] // -0
    [InlineData(0x00000001u, 0x0000)] // smallest denormal → +0
    [InlineData(0x00008000u, 0x0000)] // denormal tie to even (0)
    [InlineData(0x00018000u, 0x0002)] // denormal tie to even (up)
    [InlineData(0x7FC00000u, 0x7FC0)] // quiet NaN
    [InlineData(0x7F800001u, 0x7FC0)] // NaN whose payload is only in the dropped bits: must not become inf
    [InlineData(0xFF800001u, 0xFFC0)] // negative NaN keeps its sign
    [InlineData(0x7FFFFFFFu, 0x7FFF)] // NaN with all payload bits: stays NaN (no carry into the sign)
    public void FromSingle_RoundsToNearestEven(uint f32Bits, int expected) =>
        Assert.Equal((ushort)expected, BFloat16Bits.FromSingle(F(f32Bits)));

    [Fact]
    public void FromSingle_MatchesIndependentNearestEvenOracle_OnRandomBitPatterns()
    {
        var seed = Random.Shared.Next();
        output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        for (var i = 0; i < 1_000_000; i++)
        {
            var bits = (uint)random.NextInt64(0, 1L << 32);
            var value = F(bits);
            var actual = BFloat16Bits.FromSingle(value);
            if (float.IsNaN(value))
            {
                Assert.True(float.IsNaN(BFloat16Bits.ToSingle(actual)), $"NaN 0x{bits:x8} became 0x{actual:x4} (seed {seed})");
                Assert.Equal(bits >> 31, (uint)actual >> 15);
                continue;
            }
            Assert.True(Oracle(value) == actual, $"0x{bits:x8}: got 0x{actual:x4}, oracle 0x{Oracle(value):x4} (seed {seed})");
        }
    }

    // Independent of the bit trick: take the two bf16 neighbours by truncation, compare distances in double.
    private static ushort Oracle(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        var down = (ushort)(bits >> 16);
        if (float.IsInfinity(value) || (bits & 0xFFFF) == 0)
            return down;
        var up = (ushort)(down + 1); // next magnitude (may be infinity)
        double lo = BFloat16Bits.ToSingle(down), hi = BFloat16Bits.ToSingle(up), v = value;
        if (double.IsInfinity(hi))
            hi = Math.CopySign(Math.Pow(2, 128), v); // the rounding boundary beyond max is 2^128
        var dLo = Math.Abs(v - lo);
        var dHi = Math.Abs(hi - v);
        if (dLo < dHi) return down;
        if (dHi < dLo) return up;
        return (down & 1) == 0 ? down : up;
    }

    [Fact]
    public void EveryBf16Value_RoundTripsThroughF32Exactly()
    {
        for (var b = 0; b <= 0xFFFF; b++)
        {
            var f = BFloat16Bits.ToSingle((ushort)b);
            if (float.IsNaN(f))
                Assert.True(float.IsNaN(BFloat16Bits.ToSingle(BFloat16Bits.FromSingle(f))));
            else
                Assert.Equal((ushort)b, BFloat16Bits.FromSingle(f));
        }
    }

    [Fact]
    public void FromHalfBits_IsOneRoundingOfTheExactValue()
    {
        for (var h = 0; h <= 0xFFFF; h++)
        {
            var half = BitConverter.UInt16BitsToHalf((ushort)h);
            var result = BFloat16Bits.FromHalfBits((ushort)h);
            if (Half.IsNaN(half))
            {
                Assert.True(float.IsNaN(BFloat16Bits.ToSingle(result)), $"half NaN 0x{h:x4} lost");
                continue;
            }
            Assert.Equal(Oracle((float)half), result);
        }
        // A value needing rounding: 1 + 2^-10 (half has it exactly, bf16 does not; tie → even 1.0).
        Assert.Equal(1.0f, BFloat16Bits.ToSingle(BFloat16Bits.FromHalfBits(BitConverter.HalfToUInt16Bits((Half)1.0009765625f))));
    }
}
