using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Images;
using AccelAes.Loader.Validation;

namespace AccelAes.Engine.Evaluation;

/// <summary>Where torchvision's <c>Resize</c> runs in a transform pipeline, which decides the resampler.</summary>
public enum TorchvisionResizeInput
{
    /// <summary>On the PIL image, before <c>ToTensor()</c>: Pillow's 8-bit bicubic (ImageReward's <c>_transform</c>).</summary>
    PilImage,

    /// <summary>On the float tensor, after <c>ToTensor()</c>: torch's antialiased bicubic (HPSv2's open_clip transform).</summary>
    Tensor,
}

/// <summary>
/// The CLIP-style torchvision evaluation transform: <c>Resize(S, BICUBIC)</c> (the shorter side to S, the longer to
/// <c>int(S·long/short)</c>, torchvision's rule), <c>CenterCrop(S)</c> (offsets <c>int(round((side − S) / 2))</c>,
/// Python's half-to-even round), <c>ToTensor()</c> (/255) and <c>Normalize</c> with OpenAI CLIP's mean and std.
/// ImageReward (ImageReward/ImageReward.py <c>_transform</c>, THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb)
/// resizes the PIL image; HPSv2 (hpsv2/src/open_clip/transform.py <c>image_transform(is_train=False)</c>, tgxs002/HPSv2
/// 866735ecaae999fa714bd9edfa05aa2672669ee3) converts to a tensor first and resizes that.
/// </summary>
public sealed class TorchvisionClipTransform(int size, TorchvisionResizeInput resizeOn) : IPixelValuesProcessor
{
    /// <summary><c>Normalize((0.48145466, 0.4578275, 0.40821073), ...)</c>.</summary>
    public static IReadOnlyList<float> Mean { get; } = [0.48145466f, 0.4578275f, 0.40821073f];

    /// <summary><c>Normalize(..., (0.26862954, 0.26130258, 0.27577711))</c>.</summary>
    public static IReadOnlyList<float> Std { get; } = [0.26862954f, 0.26130258f, 0.27577711f];

    public int Size { get; } = size > 0 ? size : throw new ArgumentOutOfRangeException(nameof(size), size, "The crop size must be positive.");

    public TorchvisionResizeInput ResizeOn { get; } = resizeOn;

    /// <summary>An RGB image → pixel values [3, size, size] (channel-major, normalised).</summary>
    public float[] Apply(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Width <= 0 || image.Height <= 0 || image.Pixels.Length != image.Width * image.Height * 3)
            throw new AccelAesException($"Image of {image.Width}×{image.Height} pixels has {image.Pixels.Length} bytes; expected 3 per pixel.");
        ValueChecks.Finite((double)Math.Max(image.Width, image.Height) / Math.Min(image.Width, image.Height),
            $"The aspect ratio (long side / short side) of the {image.Width}×{image.Height} image", 1, InputLimits.MaxScoredImageAspectRatio);
        (int width, int height) = ResizedSize(image.Width, image.Height, Size);
        float[] unit = ResizedUnitValues(image, width, height);
        int top = CropOffset(height, Size), left = CropOffset(width, Size);
        int plane = Size * Size;
        var values = new float[3 * plane];
        for (int y = 0; y < Size; y++)
            for (int x = 0; x < Size; x++)
                for (int c = 0; c < 3; c++)
                    values[c * plane + y * Size + x] = (unit[((top + y) * width + left + x) * 3 + c] - Mean[c]) / Std[c];
        return values;
    }

    public Tensor PixelValues(IBackend backend, IReadOnlyList<RgbImage> images)
    {
        if (images.Count == 0) throw new ArgumentException("No images to preprocess.", nameof(images));
        int plane = 3 * Size * Size;
        var values = new float[images.Count * plane];
        for (int i = 0; i < images.Count; i++) Apply(images[i]).CopyTo(values, i * plane);
        return backend.Upload(values, new Shape(images.Count, 3, Size, Size));
    }

    /// <summary>torchvision's <c>Resize(int)</c> target: shorter side to <paramref name="size"/>, the longer scaled and truncated.</summary>
    public static (int Width, int Height) ResizedSize(int width, int height, int size)
    {
        if (width <= height) return (size, (int)((long)size * height / width));
        return ((int)((long)size * width / height), size);
    }

    /// <summary>torchvision's <c>center_crop</c> offset, <c>int(round((side − crop) / 2.0))</c>.</summary>
    public static int CropOffset(int side, int crop) => (int)Math.Round((side - crop) / 2.0, MidpointRounding.ToEven);

    /// <summary>The resized image as <c>ToTensor()</c> values in [0, 1] (interleaved), resampled where the pipeline does.</summary>
    private float[] ResizedUnitValues(RgbImage image, int width, int height)
    {
        if (ResizeOn == TorchvisionResizeInput.PilImage)
        {
            // Pillow returns a copy at the same size, so one path covers both.
            byte[] resized = PilBicubicResize.Resize(image.Pixels, image.Width, image.Height, 3, width, height);
            return Array.ConvertAll(resized, b => b / 255f);
        }
        float[] unit = Array.ConvertAll(image.Pixels, b => b / 255f);
        return TorchAntialiasedBicubic.Resize(unit, image.Width, image.Height, 3, width, height);
    }
}
