using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Images;
using AccelAes.Loader.Validation;

namespace AccelAes.Engine.Evaluation.Clip;

/// <summary>One image through <see cref="ClipImageProcessor"/>, with the uint8 intermediates (for checks and debugging).</summary>
/// <param name="Resized">[height, width, 3] after the resize.</param>
/// <param name="Cropped">[height, width, 3] after the center crop.</param>
/// <param name="PixelValues">[3, height, width] float32, rescaled and normalised: one row of the model's pixel_values.</param>
public sealed record ProcessedImage(
    byte[] Resized, int ResizedWidth, int ResizedHeight,
    byte[] Cropped, int Width, int Height, float[] PixelValues);

/// <summary>
/// transformers <c>CLIPImageProcessor.preprocess</c> (image_processing_clip.py, d6751d91) on an RGB image, in its
/// order: resize (<see cref="PilBicubicResize"/>, Pillow's exact bicubic), center crop (<see cref="CenterCrop"/>),
/// rescale (<c>float32(float64(x) · rescale_factor)</c>, numpy's promotion), normalise (<c>(x − mean) / std</c> in
/// float32 with mean and std rounded to float32), channels first. Step details: conformance README B.4.
/// </summary>
public sealed class ClipImageProcessor(ClipImageProcessorConfig config) : IPixelValuesProcessor
{
    public ClipImageProcessorConfig Config { get; } = config;

    public ProcessedImage Preprocess(RgbImage image)
    {
        var (width, height) = Config.DoResize ? ResizedSize(image.Width, image.Height) : (image.Width, image.Height);
        byte[] resized = PilBicubicResize.Resize(image.Pixels, image.Width, image.Height, 3, width, height);

        byte[] cropped = resized;
        int cropWidth = width, cropHeight = height;
        if (Config.DoCenterCrop)
        {
            (cropWidth, cropHeight) = (Config.CropWidth, Config.CropHeight);
            cropped = CenterCrop.Apply(resized, width, height, 3, cropWidth, cropHeight);
        }
        return new ProcessedImage(resized, width, height, cropped, cropWidth, cropHeight, ToPixelValues(cropped, cropWidth, cropHeight));
    }

    /// <summary>Preprocesses every image and stacks them as pixel_values [B, 3, H, W] on <paramref name="backend"/>.</summary>
    public Tensor PixelValues(IBackend backend, IReadOnlyList<RgbImage> images)
    {
        if (images.Count == 0) throw new ArgumentException("No images to preprocess.", nameof(images));
        var processed = images.Select(Preprocess).ToList();
        int w = processed[0].Width, h = processed[0].Height;
        if (processed.Any(p => p.Width != w || p.Height != h))
            throw new AccelAesException($"{Config.Source}: the images preprocess to different sizes (no center crop); they cannot form one batch.");
        var values = new float[processed.Count * 3 * h * w];
        for (int i = 0; i < processed.Count; i++)
            processed[i].PixelValues.CopyTo(values, i * 3 * h * w);
        return backend.Upload(values, new Shape(processed.Count, 3, h, w));
    }

    /// <summary>
    /// <c>get_resize_output_image_size(default_to_square=False)</c>: the short side becomes S and the long side
    /// <c>int(S · long / short)</c> (Python float division, truncated); or the configured height and width.
    /// </summary>
    /// <exception cref="AccelAesException">The image is more elongated than <see cref="InputLimits.MaxScoredImageAspectRatio"/>:
    /// scaling its short side up would make the long side huge.</exception>
    public (int Width, int Height) ResizedSize(int width, int height)
    {
        if (Config.ShortestEdge is not int s) return (Config.ResizeWidth!.Value, Config.ResizeHeight!.Value);
        int shortSide = Math.Min(width, height), longSide = Math.Max(width, height);
        if (longSide > InputLimits.MaxScoredImageAspectRatio * shortSide)
            throw new AccelAesException(
                $"A {width}×{height} image is too elongated to score: its sides' ratio is above {InputLimits.MaxScoredImageAspectRatio}:1 " +
                $"(resizing its short side to {s} would make the long side {(long)s * longSide / shortSide} pixels).");
        int newLong = (int)((double)((long)s * longSide) / shortSide);
        return width <= height ? (s, newLong) : (newLong, s);
    }

    private float[] ToPixelValues(byte[] hwc, int width, int height)
    {
        var mean = new float[3];
        var std = new float[3];
        for (int c = 0; c < 3; c++)
        {
            mean[c] = (float)Config.ImageMean[c];
            std[c] = (float)Config.ImageStd[c];
        }
        int plane = width * height;
        var chw = new float[3 * plane];
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
            {
                byte v = hwc[i * 3 + c];
                float x = Config.DoRescale ? (float)(v * Config.RescaleFactor) : v;
                if (Config.DoNormalize) x = (x - mean[c]) / std[c];
                chw[c * plane + i] = x;
            }
        return chw;
    }
}
