using AccelAes.Engine.Evaluation;
using AccelAes.Loader.Images;
using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Engine.Tests.Evaluation;

/// <summary>torchvision's CLIP-style transform (ImageReward, HPSv2): Resize / CenterCrop arithmetic, both resamplers, ToTensor + Normalize.</summary>
public class TorchvisionClipTransformTests
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
        => Assert.Equal((expectedWidth, expectedHeight), TorchvisionClipTransform.ResizedSize(width, height, 224));

    [Theory]
    [InlineData(336, 56)]
    [InlineData(225, 0)] // round(0.5) = 0: Python rounds half to even
    [InlineData(227, 2)] // round(1.5) = 2
    [InlineData(229, 2)] // round(2.5) = 2
    [InlineData(224, 0)]
    public void Center_crop_offset_rounds_half_to_even(int side, int expected)
        => Assert.Equal(expected, TorchvisionClipTransform.CropOffset(side, 224));

    /// <summary>
    /// 4 → 2 samples: scale 2, so the a = −0.5 cubic is stretched to a support of 4. Output 0 is centred at 1.0; its taps
    /// sit at (x + 0.5 − 1)/2 = −0.25, 0.25, 0.75, 1.25 with weights 0.8671875, 0.8671875, 0.2265625, −0.0703125
    /// (sum 1.890625). On [0, 100, 200, 255]: 114.1015625 / 1.890625 = 60.351… Output 1 (centre 3.0) takes the
    /// mirrored weights: 417.2265625 / 1.890625 = 220.685… Pillow rounds to 60 and 221; torch's float resampler keeps
    /// the fractions (of the /255 values).
    /// </summary>
    [Fact]
    public void Both_resamplers_match_the_hand_computed_filter()
    {
        byte[] row = [0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255];
        Assert.Equal([60, 60, 60, 221, 221, 221], PilBicubicResize.Resize(row, 4, 1, 3, 2, 1));
        float[] unit = Array.ConvertAll(row, b => b / 255f);
        float[] resized = TorchAntialiasedBicubic.Resize(unit, 4, 1, 3, 2, 1);
        Assert.Equal(114.1015625 / 1.890625 / 255, resized[0], 1e-6);
        Assert.Equal(417.2265625 / 1.890625 / 255, resized[5], 1e-6);
    }

    [Fact]
    public void The_float_resampler_keeps_a_flat_image_flat_and_does_not_clamp_overshoot()
    {
        float[] flat = Enumerable.Repeat(0.7f, 7 * 5 * 3).ToArray();
        Assert.All(TorchAntialiasedBicubic.Resize(flat, 7, 5, 3, 3, 11), v => Assert.Equal(0.7, v, 1e-6));
        // A hard edge upsampled: the cubic's negative lobe overshoots past 1 and below 0, which Pillow would clip.
        float[] edge = [0, 0, 0, 0, 1, 1, 1, 1];
        float[] up = TorchAntialiasedBicubic.Resize(edge, 8, 1, 1, 32, 1);
        Assert.True(up.Max() > 1f && up.Min() < 0f, string.Join(", ", up));
    }

    [Fact]
    public void Resizing_on_the_tensor_differs_from_resizing_the_pil_image()
    {
        RgbImage image = Gradient(37, 23);
        float[] pil = new TorchvisionClipTransform(16, TorchvisionResizeInput.PilImage).Apply(image);
        float[] tensor = new TorchvisionClipTransform(16, TorchvisionResizeInput.Tensor).Apply(image);
        Assert.NotEqual(pil, tensor);
        // …by less than one 8-bit level (1/255/std ≈ 0.0146) where no 8-bit rounding or clipping separates them.
        Assert.True(pil.Zip(tensor, (a, b) => Math.Abs(a - b)).Average() < 0.0146);
    }

    [Fact]
    public void ToTensor_and_normalize_use_clip_s_mean_and_std_channel_major()
    {
        var pixels = new byte[2 * 2 * 3];
        pixels[0] = 255; pixels[1] = 0; pixels[2] = 128; // top-left pixel
        float[] values = new TorchvisionClipTransform(2, TorchvisionResizeInput.PilImage).Apply(new RgbImage(2, 2, pixels));
        Assert.Equal((1f - 0.48145466f) / 0.26862954f, values[0]);
        Assert.Equal((0f - 0.4578275f) / 0.26130258f, values[4]);
        Assert.Equal((128 / 255f - 0.40821073f) / 0.27577711f, values[8]);
        Assert.Equal((0f - 0.48145466f) / 0.26862954f, values[1]);
    }

    /// <summary>Where no side changes size, no resampling happens and the crop is taken centrally.</summary>
    [Theory]
    [InlineData(TorchvisionResizeInput.PilImage)]
    [InlineData(TorchvisionResizeInput.Tensor)]
    public void An_image_already_at_the_resize_target_is_cropped_centrally(TorchvisionResizeInput resizeOn)
    {
        float[] values = new TorchvisionClipTransform(8, resizeOn).Apply(Gradient(8, 16));
        // Crop top = round((16 − 8) / 2) = 4, left 0: the first value is the gradient's pixel (0, 4), channel 0 = 40.
        Assert.Equal((40 / 255f - 0.48145466f) / 0.26862954f, values[0]);
        Assert.Equal(((40 + 50) / 255f - 0.4578275f) / 0.26130258f, values[64]);
    }

    [Fact]
    public void An_image_too_elongated_to_resize_is_refused_naming_its_aspect_ratio()
    {
        var e = Assert.Throws<AccelAesException>(() => new TorchvisionClipTransform(224, TorchvisionResizeInput.PilImage).Apply(new RgbImage(650, 10, new byte[650 * 10 * 3])));
        Assert.Contains("aspect ratio", e.Message);
        Assert.Contains("650×10", e.Message);
        Assert.Equal(224 * 3 * 224, new TorchvisionClipTransform(224, TorchvisionResizeInput.PilImage).Apply(new RgbImage(640, 10, new byte[640 * 10 * 3])).Length);
    }
}
