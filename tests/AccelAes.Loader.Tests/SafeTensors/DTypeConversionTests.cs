using System.Runtime.InteropServices;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.Tests.SafeTensors;

public sealed class DTypeConversionTests
{
    private static uint Bits(float f) => BitConverter.SingleToUInt32Bits(f);
    private static float Float(uint bits) => BitConverter.UInt32BitsToSingle(bits);

    [Theory]
    [InlineData(0x3F80_8000u, 0x3F80)] // exact tie, kept LSB even: stays
    [InlineData(0x3F81_8000u, 0x3F82)] // exact tie, kept LSB odd: rounds up to even
    [InlineData(0x3F80_8001u, 0x3F81)] // just above the tie
    [InlineData(0x3F80_7FFFu, 0x3F80)] // just below the tie
    [InlineData(0xBF81_8000u, 0xBF82)] // negative tie
    [InlineData(0x7F7F_FFFFu, 0x7F80)] // max float rounds to +Inf
    [InlineData(0x7F7F_7FFFu, 0x7F7F)] // stays finite below the half-ulp
    [InlineData(0x7F80_0000u, 0x7F80)] // +Inf
    [InlineData(0xFF80_0000u, 0xFF80)] // -Inf
    [InlineData(0x0000_8000u, 0x0000)] // denormal tie to even zero
    [InlineData(0x0001_8000u, 0x0002)] // denormal tie, odd: up
    [InlineData(0x807F_FFFFu, 0x8080)] // largest negative denormal rounds to the smallest normal
    [InlineData(0x8000_0000u, 0x8000)] // -0
    public void Float32_to_bf16_rounds_to_nearest_even(uint input, int expected)
    {
        Assert.Equal((ushort)expected, DTypeConversion.Float32ToBFloat16(Float(input)));
        var vector = new ushort[19];
        DTypeConversion.Float32ToBFloat16(Enumerable.Repeat(Float(input), 19).ToArray(), vector);
        Assert.All(vector, v => Assert.Equal((ushort)expected, v));
    }

    [Theory]
    [InlineData(0x7FC0_0000u)]
    [InlineData(0x7F80_0001u)] // signalling NaN whose payload sits in the dropped bits: must not become Inf
    [InlineData(0x7F80_FFFFu)]
    [InlineData(0xFFFF_FFFFu)]
    [InlineData(0xFF80_0001u)]
    public void Float32_nan_stays_a_quiet_nan_with_its_sign(uint nan)
    {
        var scalar = DTypeConversion.Float32ToBFloat16(Float(nan));
        var vector = new ushort[17];
        DTypeConversion.Float32ToBFloat16(Enumerable.Repeat(Float(nan), 17).ToArray(), vector);

        foreach (var result in vector.Append(scalar))
        {
            Assert.True(float.IsNaN(DTypeConversion.BFloat16ToFloat32(result)), $"{nan:x8} -> {result:x4}");
            Assert.Equal(nan >> 31, (uint)result >> 15);
            Assert.NotEqual(0, result & 0x0040);
        }
    }

    [Fact]
    public void Float32_to_bf16_matches_a_reference_rounding_for_every_bf16_neighbourhood()
    {
        var random = new Random(11);
        ushort[] lowPatterns = [0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xFFFF, 0, 0];
        var inputs = new List<float>();
        for (var high = 0; high <= 0xFFFF; high++)
        {
            lowPatterns[^2] = (ushort)random.Next(0x10000);
            lowPatterns[^1] = (ushort)random.Next(0x10000);
            foreach (var low in lowPatterns)
                inputs.Add(Float(((uint)high << 16) | low));
        }
        var vector = new ushort[inputs.Count];
        DTypeConversion.Float32ToBFloat16(inputs.ToArray(), vector);

        for (var i = 0; i < inputs.Count; i++)
        {
            var expected = ReferenceBf16(inputs[i]);
            var scalar = DTypeConversion.Float32ToBFloat16(inputs[i]);
            if (float.IsNaN(inputs[i]))
            {
                Assert.True(float.IsNaN(DTypeConversion.BFloat16ToFloat32(scalar)));
                Assert.Equal(scalar, vector[i]);
                continue;
            }
            Assert.True(expected == scalar, $"{Bits(inputs[i]):x8}: expected {expected:x4}, scalar {scalar:x4}");
            Assert.True(expected == vector[i], $"{Bits(inputs[i]):x8}: expected {expected:x4}, vector {vector[i]:x4}");
        }
    }

    // Rounds by comparing distances in double, independent of the bit trick under test.
    private static ushort ReferenceBf16(float x)
    {
        var truncated = (ushort)(Bits(x) >> 16);
        if (float.IsInfinity(x) || (Bits(x) & 0xFFFF) == 0) return truncated;
        var away = (ushort)(truncated + 1);
        var below = (double)DTypeConversion.BFloat16ToFloat32(truncated);
        // One step past the largest finite bf16 is 2^128 in magnitude, which rounds to Inf.
        var above = (away & 0x7FFF) == 0x7F80 ? Math.CopySign(Math.Pow(2, 128), x) : DTypeConversion.BFloat16ToFloat32(away);
        var toBelow = Math.Abs(x - below);
        var toAbove = Math.Abs(above - x);
        if (toBelow < toAbove) return truncated;
        if (toAbove < toBelow) return away;
        return (truncated & 1) == 0 ? truncated : away;
    }

    [Fact]
    public void Bf16_widening_is_exact_for_every_value_and_any_length()
    {
        var all = Enumerable.Range(0, 0x10000).Select(i => (ushort)i).ToArray();
        var widened = new float[all.Length];
        DTypeConversion.BFloat16ToFloat32(all, widened);
        for (var i = 0; i < all.Length; i++)
            Assert.Equal((uint)all[i] << 16, Bits(widened[i]));

        // Odd lengths and an unaligned byte source exercise the vector tails.
        var random = new Random(5);
        var bytes = new byte[1 + 2 * 77];
        random.NextBytes(bytes);
        var floats = DTypeConversion.ToFloat32(bytes.AsSpan(1), SafeTensorDType.BF16);
        for (var i = 0; i < 77; i++)
            Assert.Equal((uint)(bytes[1 + 2 * i] | bytes[2 + 2 * i] << 8) << 16, Bits(floats[i]));
    }

    [Fact]
    public void Bf16_round_trip_is_identity()
    {
        var random = new Random(3);
        var bits = new ushort[4097];
        for (var i = 0; i < bits.Length; i++)
        {
            do bits[i] = (ushort)random.Next(0x10000);
            while (float.IsNaN(DTypeConversion.BFloat16ToFloat32(bits[i])));
        }
        var floats = new float[bits.Length];
        DTypeConversion.BFloat16ToFloat32(bits, floats);
        var back = new ushort[bits.Length];
        DTypeConversion.Float32ToBFloat16(floats, back);
        Assert.Equal(bits, back);
    }

    [Fact]
    public void F16_widening_matches_Half_for_every_value()
    {
        var all = Enumerable.Range(0, 0x10000).Select(i => (ushort)i).ToArray();
        var vector = new float[all.Length];
        DTypeConversion.Float16ToFloat32(all, vector);
        var tail = DTypeConversion.ToFloat32(MemoryMarshal.AsBytes(all.AsSpan(0x7C00 - 5, 13)), SafeTensorDType.F16);

        for (var i = 0; i < all.Length; i++)
        {
            var expected = (float)BitConverter.UInt16BitsToHalf(all[i]);
            if (float.IsNaN(expected))
            {
                Assert.True(float.IsNaN(vector[i]), $"{i:x4}");
                Assert.Equal(Bits(expected) >> 31, Bits(vector[i]) >> 31);
            }
            else
            {
                Assert.True(Bits(expected) == Bits(vector[i]), $"{i:x4}: {expected} vs {vector[i]}");
            }
        }
        for (var i = 0; i < tail.Length; i++)
            Assert.Equal(Bits(vector[0x7C00 - 5 + i]), Bits(tail[i]));
    }

    [Fact]
    public void Float32_to_f16_rounds_ties_to_even_and_round_trips()
    {
        var output = new byte[2];
        for (var h = 0; h < 0x7C00; h++)
        {
            if (h == 0x7BFF) continue; // the midpoint above the largest finite half is checked below
            var low = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            var high = (float)BitConverter.UInt16BitsToHalf((ushort)(h + 1));
            var midpoint = (float)(((double)low + high) / 2); // exact: a float has 13 more mantissa bits
            DTypeConversion.FromFloat32([midpoint], SafeTensorDType.F16, output);
            var expected = (h & 1) == 0 ? h : h + 1;
            Assert.True(expected == BitConverter.ToUInt16(output), $"tie above {h:x4}");

            DTypeConversion.FromFloat32([low], SafeTensorDType.F16, output);
            Assert.Equal(h, BitConverter.ToUInt16(output));
        }
        DTypeConversion.FromFloat32([65520f], SafeTensorDType.F16, output);
        Assert.Equal(0x7C00, BitConverter.ToUInt16(output));
        DTypeConversion.FromFloat32([65519f], SafeTensorDType.F16, output);
        Assert.Equal(0x7BFF, BitConverter.ToUInt16(output));
        DTypeConversion.FromFloat32([float.NaN], SafeTensorDType.F16, output);
        Assert.True(Half.IsNaN(BitConverter.ToHalf(output)));
    }

    [Fact]
    public void F64_and_F32_convert_like_casts()
    {
        var random = new Random(17);
        var doubles = Enumerable.Range(0, 257).Select(_ => (random.NextDouble() - 0.5) * Math.Pow(2, random.Next(-140, 140))).ToArray();
        var fromDouble = DTypeConversion.ToFloat32(MemoryMarshal.AsBytes(doubles.AsSpan()), SafeTensorDType.F64);
        Assert.Equal(doubles.Select(d => (float)d), fromDouble);

        var floats = Enumerable.Range(0, 33).Select(_ => (float)random.NextDouble()).ToArray();
        Assert.Equal(floats, DTypeConversion.ToFloat32(MemoryMarshal.AsBytes(floats.AsSpan()), SafeTensorDType.F32));

        var asDoubles = new byte[floats.Length * 8];
        DTypeConversion.FromFloat32(floats, SafeTensorDType.F64, asDoubles);
        Assert.Equal(floats.Select(f => (double)f), MemoryMarshal.Cast<byte, double>(asDoubles).ToArray());
    }

    [Fact]
    public void Integer_and_bool_types_convert_to_float32_and_int64()
    {
        var random = new Random(23);
        var longs = Enumerable.Range(0, 41).Select(_ => random.NextInt64(long.MinValue, long.MaxValue)).ToArray();
        var ints = Enumerable.Range(0, 41).Select(_ => random.Next(int.MinValue, int.MaxValue)).ToArray();
        var shorts = Enumerable.Range(0, 41).Select(_ => (short)random.Next(short.MinValue, short.MaxValue)).ToArray();
        var bytes = new byte[41];
        random.NextBytes(bytes);
        var bools = bytes.Select(b => (byte)(b & 1)).ToArray();

        AssertConverts(MemoryMarshal.AsBytes(longs.AsSpan()), SafeTensorDType.I64, longs.Select(v => (float)v), longs);
        AssertConverts(MemoryMarshal.AsBytes(ints.AsSpan()), SafeTensorDType.I32, ints.Select(v => (float)v), ints.Select(v => (long)v));
        AssertConverts(MemoryMarshal.AsBytes(shorts.AsSpan()), SafeTensorDType.I16, shorts.Select(v => (float)v), shorts.Select(v => (long)v));
        AssertConverts(MemoryMarshal.AsBytes(shorts.AsSpan()), SafeTensorDType.U16, shorts.Select(v => (float)(ushort)v), shorts.Select(v => (long)(ushort)v));
        AssertConverts(MemoryMarshal.AsBytes(ints.AsSpan()), SafeTensorDType.U32, ints.Select(v => (float)(uint)v), ints.Select(v => (long)(uint)v));
        AssertConverts(bytes, SafeTensorDType.U8, bytes.Select(v => (float)v), bytes.Select(v => (long)v));
        AssertConverts(bytes, SafeTensorDType.I8, bytes.Select(v => (float)(sbyte)v), bytes.Select(v => (long)(sbyte)v));
        AssertConverts(bools, SafeTensorDType.Bool, bools.Select(v => (float)v), bools.Select(v => (long)v));
        var positive = longs.Select(v => (ulong)Math.Abs(v / 2)).ToArray();
        AssertConverts(MemoryMarshal.AsBytes(positive.AsSpan()), SafeTensorDType.U64, positive.Select(v => (float)v), positive.Select(v => (long)v));
    }

    private static void AssertConverts(ReadOnlySpan<byte> source, SafeTensorDType dtype, IEnumerable<float> floats, IEnumerable<long> longs)
    {
        Assert.Equal(floats, DTypeConversion.ToFloat32(source, dtype));
        Assert.Equal(longs, DTypeConversion.ToInt64(source, dtype));
    }

    [Fact]
    public void Unsupported_and_mismatched_conversions_throw()
    {
        foreach (var f8 in new[] { SafeTensorDType.F8E8M0, SafeTensorDType.C64 })
        {
            Assert.False(DTypeConversion.CanConvertToFloat32(f8));
            Assert.Throws<NotSupportedException>(() => DTypeConversion.ToFloat32(new byte[8], f8));
        }
        Assert.Throws<NotSupportedException>(() => DTypeConversion.ToInt64(new byte[4], SafeTensorDType.F32));
        Assert.Throws<NotSupportedException>(() => DTypeConversion.FromFloat32([1f], SafeTensorDType.I32, new byte[4]));
        Assert.Throws<ArgumentException>(() => DTypeConversion.ToFloat32(new byte[6], SafeTensorDType.F32, new float[2]));
        Assert.Throws<ArgumentException>(() => DTypeConversion.ToFloat32(new byte[3], SafeTensorDType.BF16));
        Assert.Throws<OverflowException>(() => DTypeConversion.ToInt64(BitConverter.GetBytes(ulong.MaxValue), SafeTensorDType.U64));
    }
}
