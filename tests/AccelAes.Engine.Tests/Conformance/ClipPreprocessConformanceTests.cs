using AccelAes.Engine.Evaluation;
using AccelAes.Engine.Evaluation.Clip;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Loader.Images;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Conformance;

/// <summary>
/// CLIPImageProcessor against transformers + PIL 9.4 (../shared/conformance/clip_vision_tiny/preprocess, README B.4):
/// the uint8 resize and crop exactly, pixel_values within 1e-6, for a downscale (S = 32) and an upscale (S = 224).
/// </summary>
public class ClipPreprocessConformanceTests(ITestOutputHelper log)
{
    private static string Preprocess(params string[] parts) => GoldenFiles.At(["clip_vision_tiny", "preprocess", .. parts]);

    [GoldenFact]
    public void The_png_decodes_to_the_golden_pixels()
    {
        RgbImage image = RgbImageFile.Read(Preprocess("test_image_64x48.png"), "test image");
        var golden = GoldenTensors.Load(Preprocess("test_image_64x48.safetensors"))["image_uint8_hwc"];
        Assert.Equal([48, 64, 3], golden.Shape);
        Assert.Equal((64, 48), (image.Width, image.Height));
        Assert.Equal(golden.Values, image.Pixels.Select(b => (float)b).ToArray());
    }

    [GoldenTheory]
    [InlineData(32, 42, 5)]
    [InlineData(224, 298, 37)]
    public void Every_step_matches_the_processor(int size, int resizedWidth, int cropLeft)
    {
        var processor = new ClipImageProcessor(ClipImageProcessorConfig.Load(Preprocess($"processor_{size}")));
        RgbImage image = RgbImageFile.Read(Preprocess("test_image_64x48.png"), "test image");
        var golden = GoldenTensors.Load(Preprocess($"preprocess_{size}.safetensors"));
        ProcessedImage result = processor.Preprocess(image);

        Assert.Equal((resizedWidth, size), (result.ResizedWidth, result.ResizedHeight));
        Assert.Equal([size, resizedWidth, 3], golden["resized_uint8_hwc"].Shape);
        AssertBytesEqual(golden["resized_uint8_hwc"].Values, result.Resized, "resized");
        Assert.Equal([size, size, 3], golden["cropped_uint8_hwc"].Shape);
        AssertBytesEqual(golden["cropped_uint8_hwc"].Values, result.Cropped, "cropped");
        // The crop starts at the golden's left offset: the first row of the crop is that slice of the resized row.
        Assert.Equal(result.Resized.AsSpan(cropLeft * 3, size * 3).ToArray(), result.Cropped.AsSpan(0, size * 3).ToArray());

        Assert.Equal([1, 3, size, size], golden["pixel_values"].Shape);
        double maxDiff = TestData.MaxAbsDiff(golden["pixel_values"].Values, result.PixelValues);
        log.WriteLine($"S={size}: pixel_values max |diff| = {maxDiff:E2}");
        Assert.True(maxDiff <= 1e-6, $"pixel_values differ by {maxDiff:E3}");
    }

    [GoldenFact]
    public void Rescale_alone_matches_numpys_float64_promotion()
    {
        var golden = GoldenTensors.Load(Preprocess("preprocess_32.safetensors"));
        var config = ClipImageProcessorConfig.Load(Preprocess("processor_32")) with { DoNormalize = false };
        ProcessedImage result = new ClipImageProcessor(config).Preprocess(RgbImageFile.Read(Preprocess("test_image_64x48.png"), "test image"));
        float[] expectedHwc = golden["rescaled_float32_hwc"].Values;
        int plane = 32 * 32;
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                Assert.Equal(expectedHwc[i * 3 + c], result.PixelValues[c * plane + i]);
    }

    private static void AssertBytesEqual(float[] expected, byte[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        int differing = expected.Where((v, i) => v != actual[i]).Count();
        Assert.True(differing == 0, $"{what}: {differing} of {expected.Length} bytes differ from PIL");
    }
}
