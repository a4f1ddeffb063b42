using AccelAes.Engine.Evaluation.ImageReward;
using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Engine.Tests.Evaluation;

/// <summary>ImageReward's preprocessing: torchvision's Resize / CenterCrop arithmetic, the bicubic filter, ToTensor + Normalize.</summary>
public class BlipImageTransformTests
{
    private static RgbImage Gradient(int width, int height)
    {
        var pixels = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < 3; c++) pixels[(y * width + x) * 3 + c] = (byte)((y * 10 + x + 50 * c) % 256);
        return new RgbImage(width, height, pixels);
    }

    [Theory]
    [InlineData(300, 200, 336, 224)]
    [InlineData(200, 300, 224, 336)]
    [InlineData(1000, 225, 995, 224)] // int(224 · 1000 / 225) = int(995.55…)
    [InlineData(512, 512, 224, 224)]
    public void Resize_takes_the_short_side_to_224_and_truncates_the_long_side(int width, int height, int expectedWidth, int expectedHeight)
        => Assert.Equal((expectedWidth, expectedHeight), BlipImageTransform.ResizedSize(width, height, 224));

    [Theory]
    [InlineData(336, 56)]
    [InlineData(225, 0)] // round(0.5) = 0: Python rounds half to even
    [InlineData(227, 2)] // round(1.5) = 2
    [InlineData(229, 2)] // round(2.5) = 2
    [InlineData(224, 0)]
    public void Center_crop_offset_rounds_half_to_even(int side, int expected)
        => Assert.Equal(expected, BlipImageTransform.CropOffset(side, 224));

    /// <summary>
    /// 4 → 2 samples: scale 2, so the a = −0.5 cubic is stretched to a support of 4. Output 0 is centred at 1.0; its taps
    /// sit at (x + 0.5 − 1)/2 = −0.25, 0.25, 0.75, 1.25 with weights 0.8671875, 0.8671875, 0.2265625, −0.0703125
    /// (sum 1.890625). On [0, 100, 200, 255]: 114.1015625 / 1.890625 = 60.35 → 60. Output 1 (centre 3.0) takes the
    /// mirrored weights: 417.2265625 / 1.890625 = 220.68 → 221.
    /// </summary>
    [Fact]
    public void Bicubic_downscale_matches_the_hand_computed_filter()
    {
        var image = new RgbImage(4, 1, [0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255]);
        RgbImage result = BicubicResize.Resize(image, 2, 1);
        Assert.Equal([60, 60, 60, 221, 221, 221], result.Pixels);
    }

    [Fact]
    public void Bicubic_keeps_a_flat_image_flat_and_the_same_size_unchanged()
    {
        var flat = new RgbImage(7, 5, Enumerable.Repeat((byte)173, 7 * 5 * 3).ToArray());
        Assert.All(BicubicResize.Resize(flat, 3, 11).Pixels, p => Assert.Equal(173, p));
        RgbImage gradient = Gradient(6, 4);
        Assert.Equal(gradient.Pixels, BicubicResize.Resize(gradient, 6, 4).Pixels);
    }

    [Fact]
    public void ToTensor_and_normalize_use_clip_s_mean_and_std_channel_major()
    {
        var pixels = new byte[2 * 2 * 3];
        pixels[0] = 255; pixels[1] = 0; pixels[2] = 128; // top-left pixel
        float[] values = new BlipImageTransform(2).Apply(new RgbImage(2, 2, pixels));
        Assert.Equal((1f - 0.48145466f) / 0.26862954f, values[0]);
        Assert.Equal((0f - 0.4578275f) / 0.26130258f, values[4]);
        Assert.Equal((128 / 255f - 0.40821073f) / 0.27577711f, values[8]);
        Assert.Equal((0f - 0.48145466f) / 0.26862954f, values[1]);
    }

    /// <summary>The resizer is a parameter: it is asked for torchvision's size and the crop is taken from what it returns.</summary>
    [Fact]
    public void A_given_resizer_is_used_and_cropped_centrally()
    {
        (int W, int H) asked = default;
        RgbImage Resizer(RgbImage image, int width, int height)
        {
            asked = (width, height);
            return Gradient(width, height);
        }

        float[] values = new BlipImageTransform(8, Resizer).Apply(Gradient(10, 20));
        Assert.Equal((8, 16), asked);
        // Crop top = round((16 − 8) / 2) = 4, left 0: the first value is the gradient's pixel (0, 4), channel 0 = 40.
        Assert.Equal((40 / 255f - 0.48145466f) / 0.26862954f, values[0]);
        Assert.Equal(((40 + 50) / 255f - 0.4578275f) / 0.26130258f, values[64]);
    }

    [Fact]
    public void An_image_too_elongated_to_resize_is_refused_naming_its_aspect_ratio()
    {
        var e = Assert.Throws<AccelAesException>(() => new BlipImageTransform(224).Apply(new RgbImage(650, 10, new byte[650 * 10 * 3])));
        Assert.Contains("aspect ratio", e.Message);
        Assert.Contains("650×10", e.Message);
        Assert.Equal(224 * 3 * 224, new BlipImageTransform(224).Apply(new RgbImage(640, 10, new byte[640 * 10 * 3])).Length);
    }
}
