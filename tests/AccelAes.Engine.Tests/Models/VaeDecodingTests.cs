using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Models;

/// <summary>Latent un-scaling per pipeline and diffusers' postprocess to 8-bit RGB.</summary>
public class VaeDecodingTests
{
    private readonly CpuBackend _cpu = new();

    /// <summary>
    /// Expected bytes computed independently with IEEE fp32 emulation of diffusers' postprocess
    /// (<c>f32(f32(x·0.5)+0.5)</c> clamped, <c>f32(·255)</c>, Python's round-half-even as numpy's round).
    /// </summary>
    [Theory]
    [InlineData(0f, 128)]                        // 127.5 → 128 (even)
    [InlineData(-0.007843137718737125f, 126)]    // 126.5 → 126: half to even, not away from zero
    [InlineData(0.007843137718737125f, 128)]     // 128.5 → 128
    [InlineData(0.9882352948188782f, 254)]       // 253.5 → 254
    [InlineData(0.9960784316062927f, 254)]       // 254.5 → 254
    [InlineData(0.5f, 191)]                      // 191.25
    [InlineData(-0.5f, 64)]                      // 63.75: rounds, does not truncate
    [InlineData(-0.48627451062202454f, 66)]      // fp32 product is 65.5 exactly (exact arithmetic: 65.4999999 → 65)
    [InlineData(-0.4941176176071167f, 64)]       // fp32 product is 64.5 exactly (exact arithmetic: 64.5000038 → 65)
    [InlineData(-1f, 0)]
    [InlineData(1f, 255)]
    [InlineData(-1.5f, 0)]                       // clamped below
    [InlineData(2f, 255)]                        // clamped above
    [InlineData(float.PositiveInfinity, 255)]
    [InlineData(float.NegativeInfinity, 0)]
    public void Pixel_bytes_follow_diffusers_postprocess_exactly(float decoded, int expected)
        => Assert.Equal((byte)expected, VaeDecoding.ToByte(decoded));

    [Fact]
    public void Rgb_bytes_are_row_major_hwc_per_batch_item()
    {
        // Value encodes (b, c, y, x) so that every byte says where it came from: x ∈ [−1, 1] ↦ byte.
        int batch = 2, height = 2, width = 3;
        var values = new float[batch * 3 * height * width];
        var expected = new byte[batch][];
        for (int b = 0; b < batch; b++)
        {
            expected[b] = new byte[height * width * 3];
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < height; y++)
                    for (int x = 0; x < width; x++)
                    {
                        int code = ((b * 3 + c) * height + y) * width + x; // 0…35
                        values[((b * 3 + c) * height + y) * width + x] = code / 17.5f - 1f;
                        expected[b][(y * width + x) * 3 + c] = VaeDecoding.ToByte(code / 17.5f - 1f);
                    }
        }
        var images = VaeDecoding.ToRgbBytes(_cpu.Upload(values, new Shape(batch, 3, height, width)));
        Assert.Equal(2, images.Count);
        Assert.Equal(expected[0], images[0]);
        Assert.Equal(expected[1], images[1]);
        Assert.Equal(VaeDecoding.ToByte(-1f), images[0][0]);                    // b0, c0, y0, x0
        Assert.Equal(VaeDecoding.ToByte(1 / 17.5f - 1f), images[0][3]);          // b0, c0, y0, x1
        Assert.Equal(VaeDecoding.ToByte(6 / 17.5f - 1f), images[0][1]);          // b0, c1, y0, x0
    }

    [Fact]
    public void Nan_or_a_non_rgb_tensor_is_refused()
    {
        var nan = new float[1 * 3 * 2 * 2];
        nan[3 * 2 * 2 - 1] = float.NaN;
        var ex = Assert.Throws<AccelAesException>(() => VaeDecoding.ToRgbBytes(_cpu.Upload(nan, new Shape(1, 3, 2, 2))));
        Assert.Contains("NaN", ex.Message);
        Assert.Contains("channel 2, pixel (1, 1)", ex.Message);
        Assert.Throws<AccelAesException>(() => VaeDecoding.ToRgbBytes(_cpu.Zeros(new Shape(1, 4, 2, 2))));
        Assert.Throws<AccelAesException>(() => VaeDecoding.ToRgbBytes(_cpu.Zeros(new Shape(3, 2, 2))));
    }

    [Fact]
    public void Sd3_and_flux_latents_are_unscaled_then_shifted()
    {
        var config = new AutoencoderKLConfig { LatentChannels = 2, ScalingFactor = 0.3611, ShiftFactor = 0.1159 };
        float[] z = TestData.Random(2 * 2 * 3 * 4, 7, -3f, 3f);
        float[] got = _cpu.Download(VaeDecoding.DecoderInputFromLatents(_cpu.Upload(z, new Shape(2, 2, 3, 4)), config));
        TestData.AssertClose(z.Select(v => (float)(v / 0.3611 + 0.1159)).ToArray(), got, 1e-6);
    }

    [Fact]
    public void Lumina_latents_are_only_unscaled()
    {
        var config = new AutoencoderKLConfig { LatentChannels = 4, ScalingFactor = 0.13025 };
        float[] z = TestData.Random(1 * 4 * 2 * 5, 8, -3f, 3f);
        float[] got = _cpu.Download(VaeDecoding.DecoderInputFromLatents(_cpu.Upload(z, new Shape(1, 4, 2, 5)), config));
        TestData.AssertClose(z.Select(v => (float)(v / 0.13025)).ToArray(), got, 3e-6);
    }

    [Fact]
    public void Sdxl_statistics_apply_per_channel()
    {
        double[] mean = [0.5, -1, 2], std = [2, 0.25, 1];
        var config = new AutoencoderKLConfig { LatentChannels = 3, ScalingFactor = 0.5, LatentsMean = mean, LatentsStd = std };
        int h = 2, w = 3, plane = h * w;
        float[] z = TestData.Random(2 * 3 * plane, 9, -3f, 3f);
        float[] got = _cpu.Download(VaeDecoding.DecoderInputFromLatents(_cpu.Upload(z, new Shape(2, 3, h, w)), config));
        var expected = z.Select((v, i) => { int c = i / plane % 3; return (float)(v * std[c] / 0.5 + mean[c]); }).ToArray();
        TestData.AssertClose(expected, got, 1e-5);
    }

    [Fact]
    public void Latents_with_the_wrong_channel_count_are_named()
    {
        var ex = Assert.Throws<ModelInputException>(() =>
            VaeDecoding.DecoderInputFromLatents(_cpu.Zeros(new Shape(1, 4, 2, 2)), new AutoencoderKLConfig { LatentChannels = 16 }));
        Assert.Equal("latents", ex.Argument);
    }

    [Fact]
    public void Shift_together_with_statistics_is_refused_as_ambiguous()
    {
        var config = new AutoencoderKLConfig { LatentChannels = 1, ShiftFactor = 0.1, LatentsMean = [0], LatentsStd = [1] };
        var ex = Assert.Throws<AccelAesException>(() => VaeDecoding.DecoderInputFromLatents(_cpu.Zeros(new Shape(1, 1, 1, 1)), config));
        Assert.Contains("shift_factor", ex.Message);
        Assert.Contains("latents_mean", ex.Message);
    }
}
