using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.Tests.SafeTensors;

/// <summary>F8_E4M3 (float8_e4m3fn) and F8_E5M2 decode exactly, subnormals and specials included.</summary>
public class Float8DecodingTests
{
    private static float Decode(byte bits, SafeTensorDType dtype) => DTypeConversion.ToFloat32([bits], dtype)[0];

    [Theory]
    [InlineData(0x38, 1.0f)]          // exponent 7 = bias
    [InlineData(0x7E, 448f)]          // largest finite
    [InlineData(0xFE, -448f)]
    [InlineData(0x08, 0.015625f)]     // smallest normal 2^-6
    [InlineData(0x01, 0.001953125f)]  // smallest subnormal 2^-9
    [InlineData(0x07, 0.013671875f)]  // largest subnormal 7/8 · 2^-6
    [InlineData(0xA0, -0.125f)]       // README decode table, row Ax
    [InlineData(0xD9, -18f)]
    [InlineData(0xF8, -256f)]
    [InlineData(0x78, 256f)]
    public void E4M3_anchor_values(int bits, float expected) => Assert.Equal(expected, Decode((byte)bits, SafeTensorDType.F8E4M3));

    [Fact]
    public void E4M3_has_nan_only_at_s1111111_and_no_infinity()
    {
        for (int b = 0; b < 256; b++)
        {
            float v = Decode((byte)b, SafeTensorDType.F8E4M3);
            Assert.False(float.IsInfinity(v));
            Assert.Equal((b & 0x7F) == 0x7F, float.IsNaN(v));
        }
        Assert.True(float.IsNegative(Decode(0x80, SafeTensorDType.F8E4M3)) && Decode(0x80, SafeTensorDType.F8E4M3) == 0);
    }

    [Fact]
    public void E5M2_equals_the_upper_byte_of_an_ieee_half_for_every_pattern()
    {
        // float8_e5m2 is float16 with the low 8 mantissa bits dropped: an independent exhaustive check.
        for (int b = 0; b < 256; b++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)(b << 8));
            float actual = Decode((byte)b, SafeTensorDType.F8E5M2);
            if (float.IsNaN(expected))
                Assert.True(float.IsNaN(actual) && float.IsNegative(actual) == float.IsNegative(expected), $"0x{b:X2}");
            else
                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual));
        }
    }

    [Fact]
    public void Scalars_and_empty_tensors_read()
    {
        using var dir = new TempDirectory();
        string path = dir.File("shapes.safetensors");
        new SafeTensorsWriter()
            .Add("scale_weight", [], [0.5f])
            .Add("scaled_fp8", SafeTensorDType.F8E4M3, [0], Array.Empty<byte>())
            .Add("codes", SafeTensorDType.F8E4M3, [2], new byte[] { 0x38, 0x01 })
            .Save(path);
        using var set = SafeTensorsSet.OpenFile(path);
        Assert.Empty(set.Get("scale_weight").Shape);
        Assert.Equal([0.5f], set.ReadAsFloat32("scale_weight"));
        Assert.Equal([0L], set.Get("scaled_fp8").Shape);
        Assert.Empty(set.ReadAsFloat32("scaled_fp8"));
        Assert.Equal([1f, 0.001953125f], set.ReadAsFloat32("codes"));
    }

    [GoldenFact]
    public void E4M3_file_decodes_to_the_dequantized_reference_bit_for_bit()
    {
        string dir = GoldenFiles.At("flux_singlefile", "flux_fp8_e4m3_tiny");
        using var fp8 = SafeTensorsSet.OpenFile(Path.Combine(dir, "flux1-tiny-fp8-e4m3fn.safetensors"));
        using var reference = SafeTensorsSet.OpenFile(Path.Combine(dir, "dequantized_reference.safetensors"));
        int fp8Tensors = 0;
        foreach (var t in fp8.Tensors)
        {
            fp8Tensors += t.DType == SafeTensorDType.F8E4M3 ? 1 : 0;
            Assert.Equal(reference.ReadAsFloat32(t.Name), fp8.ReadAsFloat32(t.Name));
        }
        Assert.Equal(36, fp8Tensors);
    }
}
