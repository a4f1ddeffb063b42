using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Cli;

/// <summary>Draws an AesMask over the generated image: focus tokens at full brightness, background dimmed, the soft mask as a red tint.</summary>
internal static class MaskOverlay
{
    public static RgbImage Draw(RgbImage image, FocusMask mask, int pixelsPerToken)
    {
        var pixels = new byte[image.Pixels.Length];
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
            {
                int ty = Math.Min(y / pixelsPerToken, mask.Height - 1), tx = Math.Min(x / pixelsPerToken, mask.Width - 1);
                int token = ty * mask.Width + tx;
                float soft = mask.Soft[token];
                float dim = mask.IsFocus[token] ? 1f : 0.35f;
                int o = (y * image.Width + x) * 3;
                pixels[o] = (byte)Math.Clamp(image.Pixels[o] * dim + 120f * soft, 0, 255);
                pixels[o + 1] = (byte)Math.Clamp(image.Pixels[o + 1] * dim, 0, 255);
                pixels[o + 2] = (byte)Math.Clamp(image.Pixels[o + 2] * dim, 0, 255);
            }
        return new RgbImage(image.Width, image.Height, pixels);
    }
}
