using System.Buffers.Binary;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Loader.Files;
using AccelAes.Loader.Validation;
using BigGustave;

namespace AccelAes.Cli;

/// <summary>
/// Reads a PNG's pixels as an <see cref="RgbImage"/> (alpha dropped, as PIL's <c>convert("RGB")</c> drops it): a
/// regular file within <see cref="InputLimits.MaxPngFileBytes"/>, its IHDR size checked against
/// <see cref="InputLimits.MaxImageSide"/> before BigGustave decodes it.
/// </summary>
internal static class PngImageInput
{
    public static RgbImage Read(string path, string what)
    {
        byte[] bytes = InputFile.ReadAllBytes(path, InputLimits.MaxPngFileBytes, what);
        // Signature (8), IHDR length and type (8), then width and height, big-endian.
        if (bytes.Length < 24 || !bytes.AsSpan(0, 8).SequenceEqual((ReadOnlySpan<byte>)[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
            throw new AccelAesException($"{what} '{path}' is not a PNG file.");
        uint width = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(16)), height = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(20));
        if (width == 0 || height == 0 || width > InputLimits.MaxImageSide || height > InputLimits.MaxImageSide)
            throw new AccelAesException($"{what} '{path}' is {width}×{height}; image sides must be between 1 and {InputLimits.MaxImageSide} pixels.");
        Png png;
        try
        {
            png = Png.Open(new MemoryStream(bytes, writable: false));
        }
        catch (Exception e) when (e is not AccelAesException)
        {
            throw new AccelAesException($"{what} '{path}' is not a readable PNG: {e.Message}", e);
        }
        var pixels = new byte[png.Width * png.Height * 3];
        for (int y = 0; y < png.Height; y++)
            for (int x = 0; x < png.Width; x++)
            {
                Pixel p = png.GetPixel(x, y);
                int o = (y * png.Width + x) * 3;
                (pixels[o], pixels[o + 1], pixels[o + 2]) = (p.R, p.G, p.B);
            }
        return new RgbImage(png.Width, png.Height, pixels);
    }
}
