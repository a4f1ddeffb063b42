namespace AccelAes.Loader.Images;

/// <summary>
/// torchvision's <c>Resize(..., BICUBIC, antialias=True)</c> on a float tensor: torch's
/// <c>_upsample_bicubic2d_aa</c> (aten/src/ATen/native/cpu/UpSampleKernel.cpp), which ports Pillow's filter
/// (<see cref="PilBicubicResize.NormalisedWindows"/>: a = −0.5, support stretched when shrinking) to floating point:
/// no fixed-point weights, no 8-bit intermediate between the passes and no clamping, so values may overshoot [0, 1].
/// open_clip's evaluation transform in HPSv2 (hpsv2/src/open_clip/transform.py) applies <c>ToTensor()</c> before
/// <c>Resize</c>, so HPS sees this resampler rather than Pillow's.
/// </summary>
/// <remarks>
/// torchvision ≥ 0.17 antialiases tensors by default; older releases resized tensors without antialiasing (and warned),
/// which gives visibly different scores on 1024² images. The horizontal pass runs first, as in Pillow.
/// </remarks>
public static class TorchAntialiasedBicubic
{
    /// <summary><paramref name="values"/> [height, width, channels] row-major → [newHeight, newWidth, channels].</summary>
    public static float[] Resize(float[] values, int width, int height, int channels, int newWidth, int newHeight)
    {
        if (values.Length != checked(width * height * channels))
            throw new ArgumentException($"{values.Length} values are not a {width}×{height}×{channels} image.");
        if (newWidth <= 0 || newHeight <= 0)
            throw new ArgumentOutOfRangeException(nameof(newWidth), $"Cannot resize to {newWidth}×{newHeight}.");
        float[] current = values;
        if (newWidth != width)
            current = ResampleAxis(current, width, height, channels, newWidth, horizontal: true);
        if (newHeight != height)
            current = ResampleAxis(current, newWidth, height, channels, newHeight, horizontal: false);
        return ReferenceEquals(current, values) ? (float[])values.Clone() : current;
    }

    private static float[] ResampleAxis(float[] src, int width, int height, int channels, int outSize, bool horizontal)
    {
        int inSize = horizontal ? width : height;
        var (first, count, weights) = PilBicubicResize.NormalisedWindows(inSize, outSize);
        int outWidth = horizontal ? outSize : width, outHeight = horizontal ? height : outSize;
        var dst = new float[outWidth * outHeight * channels];
        int stride = horizontal ? channels : width * channels;
        for (int y = 0; y < outHeight; y++)
            for (int x = 0; x < outWidth; x++)
            {
                int along = horizontal ? x : y;
                double[] k = weights[along];
                int start = horizontal ? (y * width + first[along]) * channels : (first[along] * width + x) * channels;
                int o = (y * outWidth + x) * channels;
                for (int c = 0; c < channels; c++)
                {
                    double acc = 0;
                    for (int i = 0; i < count[along]; i++) acc += src[start + i * stride + c] * k[i];
                    dst[o + c] = (float)acc;
                }
            }
        return dst;
    }
}
