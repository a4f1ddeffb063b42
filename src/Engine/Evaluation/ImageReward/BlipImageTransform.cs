using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Loader.Validation;

namespace AccelAes.Engine.Evaluation.ImageReward;

/// <summary>
/// ImageReward's <c>_transform(224)</c> (ImageReward/ImageReward.py, THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb):
/// <c>Resize(224, BICUBIC)</c> (the shorter side to 224, the longer to <c>int(224·long/short)</c>, torchvision's rule),
/// <c>CenterCrop(224)</c> (offsets <c>int(round((side − 224) / 2))</c>, Python's half-to-even round), <c>ToTensor()</c>
/// (/255) and <c>Normalize</c> with OpenAI CLIP's mean and std.
/// </summary>
public sealed class BlipImageTransform(int size, ImageResizer? resizer = null)
{
    /// <summary><c>Normalize((0.48145466, 0.4578275, 0.40821073), ...)</c>.</summary>
    public static IReadOnlyList<float> Mean { get; } = [0.48145466f, 0.4578275f, 0.40821073f];

    /// <summary><c>Normalize(..., (0.26862954, 0.26130258, 0.27577711))</c>.</summary>
    public static IReadOnlyList<float> Std { get; } = [0.26862954f, 0.26130258f, 0.27577711f];

    private readonly ImageResizer _resizer = resizer ?? BicubicResize.Resize;

    public int Size { get; } = size > 0 ? size : throw new ArgumentOutOfRangeException(nameof(size), size, "The crop size must be positive.");

    /// <summary>An RGB image → pixel values [3, size, size] (channel-major, normalised).</summary>
    public float[] Apply(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Width <= 0 || image.Height <= 0 || image.Pixels.Length != image.Width * image.Height * 3)
            throw new AccelAesException($"Image of {image.Width}×{image.Height} pixels has {image.Pixels.Length} bytes; expected 3 per pixel.");
        ValueChecks.Finite((double)Math.Max(image.Width, image.Height) / Math.Min(image.Width, image.Height),
            $"The aspect ratio (long side / short side) of the {image.Width}×{image.Height} image", 1, InputLimits.MaxScoredImageAspectRatio);
        (int width, int height) = ResizedSize(image.Width, image.Height, Size);
        RgbImage resized = _resizer(image, width, height);
        if (resized.Width != width || resized.Height != height || resized.Pixels.Length != width * height * 3)
            throw new AccelAesException($"The image resizer returned {resized.Width}×{resized.Height} pixels for a {width}×{height} request.");
        int top = CropOffset(height, Size), left = CropOffset(width, Size);
        int plane = Size * Size;
        var values = new float[3 * plane];
        for (int y = 0; y < Size; y++)
            for (int x = 0; x < Size; x++)
                for (int c = 0; c < 3; c++)
                {
                    float unit = resized.Pixels[((top + y) * width + left + x) * 3 + c] / 255f;
                    values[c * plane + y * Size + x] = (unit - Mean[c]) / Std[c];
                }
        return values;
    }

    /// <summary>torchvision's <c>Resize(int)</c> target: shorter side to <paramref name="size"/>, the longer scaled and truncated.</summary>
    public static (int Width, int Height) ResizedSize(int width, int height, int size)
    {
        if (width <= height) return (size, (int)((long)size * height / width));
        return ((int)((long)size * width / height), size);
    }

    /// <summary>torchvision's <c>center_crop</c> offset, <c>int(round((side − crop) / 2.0))</c>.</summary>
    public static int CropOffset(int side, int crop) => (int)Math.Round((side - crop) / 2.0, MidpointRounding.ToEven);
}
