namespace AccelAes.Loader.Images;

/// <summary>
/// transformers <c>image_transforms.center_crop</c> on [height, width, channels] uint8 pixels: the window starts at
/// <c>(h − crop_h) // 2</c>, <c>(w − crop_w) // 2</c> (floor division, so an odd margin leaves the extra row or column
/// at the bottom / right; torchvision rounds instead), and a crop larger than the image is padded with zeros,
/// centred with the extra pad row or column at the top / left (<c>ceil</c> of half the excess).
/// </summary>
public static class CenterCrop
{
    public static byte[] Apply(byte[] pixels, int width, int height, int channels, int cropWidth, int cropHeight)
    {
        if (pixels.Length != checked(width * height * channels))
            throw new ArgumentException($"{pixels.Length} bytes are not a {width}×{height}×{channels} image.");
        // transformers pads to max(crop, image) first, then crops that canvas; padding shifts the window by the top/left pad.
        int top = FloorDiv(height - cropHeight, 2) + CeilHalf(Math.Max(cropHeight - height, 0));
        int left = FloorDiv(width - cropWidth, 2) + CeilHalf(Math.Max(cropWidth - width, 0));
        int padTop = CeilHalf(Math.Max(cropHeight - height, 0)), padLeft = CeilHalf(Math.Max(cropWidth - width, 0));
        var result = new byte[checked(cropWidth * cropHeight * channels)];
        for (int y = 0; y < cropHeight; y++)
        {
            int sy = top + y - padTop;
            if (sy < 0 || sy >= height) continue;
            for (int x = 0; x < cropWidth; x++)
            {
                int sx = left + x - padLeft;
                if (sx < 0 || sx >= width) continue;
                Array.Copy(pixels, (sy * width + sx) * channels, result, (y * cropWidth + x) * channels, channels);
            }
        }
        return result;
    }

    private static int FloorDiv(int a, int b) => (int)Math.Floor((double)a / b);

    private static int CeilHalf(int excess) => (excess + 1) / 2;
}
