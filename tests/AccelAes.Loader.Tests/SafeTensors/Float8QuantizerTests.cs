using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.Tests.SafeTensors;

/// <summary>
/// The <c>--weights fp8</c> rule on rows worked out by hand: scale max|row| / 448, codes nearest-even in e4m3
/// (1.mmm · 2^(e−7); subnormals m · 2^-9), saturating at ±448, zero rows and non-finite rows.
/// </summary>
public class Float8QuantizerTests
{
    private static (byte[] Codes, float[] Scales) Quantize(float[] row)
    {
        var codes = new byte[row.Length];
        var scales = new float[1];
        Assert.True(Float8Quantizer.QuantizeRows(row, row.Length, codes, scales));
        return (codes, scales);
    }

    [Fact]
    public void A_row_whose_maximum_is_448_has_scale_one_and_its_values_land_on_the_grid()
    {
        // 448 = 1.75·2^8 (S.1111.110); −224 = −1.75·2^7 → 1.1110.110; 1 = 2^0 → 0.0111.000; 0 → 0.
        var (codes, scales) = Quantize([448f, -224f, 1f, 0f]);
        Assert.Equal(1f, scales[0]);
        Assert.Equal(new byte[] { 0x7E, 0xF6, 0x38, 0x00 }, codes);
    }

    [Fact]
    public void The_scale_maps_the_largest_magnitude_to_448_and_dequantising_multiplies_it_back()
    {
        // max 28 → scale 28/448 = 1/16 (exact); −7/s = −112 = −1.75·2^6 → 1.1101.110; 0.1/s = 1.6 → nearest 1.625 (m = 5).
        var (codes, scales) = Quantize([28f, -7f, 0.1f]);
        Assert.Equal(0.0625f, scales[0]);
        Assert.Equal(new byte[] { 0x7E, 0xEE, 0x3D }, codes);
        var values = new float[3];
        Float8Quantizer.DequantizeRows(codes, scales, 3, values);
        Assert.Equal(new[] { 28f, -7f, 1.625f * 0.0625f }, values);
    }

    [Theory]
    [InlineData(1.0625f, 0x38)] // halfway between 1 (m=0) and 1.125 (m=1): the even mantissa, 1
    [InlineData(1.1875f, 0x3A)] // halfway between 1.125 (m=1) and 1.25 (m=2): 1.25
    [InlineData(1.9375f, 0x40)] // halfway between 1.875 and 2: rounds up into the next binade (2 = 0.1000.000)
    [InlineData(0.001953125f, 0x01)] // 2^-9: the smallest subnormal
    [InlineData(0.0029296875f, 0x02)] // 1.5·2^-9: tie between subnormals 1 and 2 → 2
    [InlineData(0.0009765625f, 0x00)] // 2^-10: tie between 0 and 2^-9 → 0
    [InlineData(0.01513671875f, 0x08)] // 7.75·2^-9: rounds up to 2^-6, the smallest normal (exponent 1, mantissa 0)
    [InlineData(-0.005859375f, 0x83)] // −3·2^-9: a negative subnormal
    [InlineData(448f, 0x7E)]
    [InlineData(470f, 0x7E)] // nearest would be 480, the NaN code's value: saturates at 448
    [InlineData(-1e30f, 0xFE)]
    public void Single_values_round_to_nearest_even_and_saturate(float value, int code)
        => Assert.Equal((byte)code, Float8Quantizer.ToE4M3(value));

    [Fact]
    public void Every_finite_e4m3_value_encodes_to_its_own_code()
    {
        for (int bits = 0; bits < 256; bits++)
        {
            if ((bits & 0x7F) == 0x7F) continue; // the two NaN codes
            float value = DTypeConversion.ToFloat32([(byte)bits], SafeTensorDType.F8E4M3)[0];
            Assert.Equal((byte)bits, Float8Quantizer.ToE4M3(value));
        }
    }

    [Fact]
    public void A_row_of_zeros_gets_scale_zero_and_zero_codes()
    {
        var (codes, scales) = Quantize([0f, 0f, -0f]);
        Assert.Equal(0f, scales[0]);
        Assert.All(codes, c => Assert.Equal(0, c & 0x7F));
        var values = new float[3];
        Float8Quantizer.DequantizeRows(codes, scales, 3, values);
        Assert.All(values, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Rows_are_scaled_independently()
    {
        var codes = new byte[4];
        var scales = new float[2];
        Assert.True(Float8Quantizer.QuantizeRows([448f, 1f, 0.5f, -0.25f], 2, codes, scales));
        Assert.Equal(new[] { 1f, 0.5f / 448f }, scales);
        Assert.Equal(0x7E, codes[2]);
        Assert.Equal(0xF6, codes[3]); // the second row's own scale: −0.25/(0.5/448) = −224 → 1.1110.110
        Assert.Equal(0x38, codes[1]); // the first row's scale 1: 1 → 0.0111.000
    }

    [Fact]
    public void Non_finite_values_have_no_scale()
    {
        var codes = new byte[2];
        var scales = new float[1];
        Assert.False(Float8Quantizer.QuantizeRows([1f, float.NaN], 2, codes, scales));
        Assert.False(Float8Quantizer.QuantizeRows([1f, float.PositiveInfinity], 2, codes, scales));
    }
}
