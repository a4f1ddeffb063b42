using System.Buffers.Binary;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Loader.Files;
using AccelAes.Loader.Validation;
using BigGustave;

namespace AccelAes.Engine.Evaluation;

/// <summary>
/// Reads an image a scorer looks at as 8-bit RGB, as PIL's <c>Image.open(path).convert("RGB")</c> gives it (what
/// CLIPImageProcessor's <c>do_convert_rgb</c> and the reference evaluation scripts do): alpha dropped, not composited;
/// grey replicated; palette looked up. PNG only, decoded by BigGustave (the package the CLI already writes PNGs with:
/// pure managed, no native dependency); every image this engine writes is a PNG. The header's size is checked against
/// <see cref="InputLimits.MaxImageSide"/> before anything is decoded, so a hostile header cannot make it allocate.
/// </summary>
public static class RgbImageFile
{
    private static ReadOnlySpan<byte> PngSignature => [137, 80, 78, 71, 13, 10, 26, 10];

    /// <summary>Reads <paramref name="path"/>; <paramref name="what"/> names it in errors ("--image").</summary>
    public static RgbImage Read(string path, string what)
    {
        byte[] bytes = InputFile.ReadAllBytes(path, InputLimits.MaxImageFileBytes, what);
        return Decode(bytes, $"{what} '{path}'");
    }

    public static RgbImage Decode(byte[] bytes, string what)
    {
        // Signature (8), IHDR length (4), "IHDR" (4), width (4, big-endian), height (4).
        if (bytes.Length < 24 || !bytes.AsSpan(0, 8).SequenceEqual(PngSignature) || !bytes.AsSpan(12, 4).SequenceEqual("IHDR"u8))
            throw new AccelAesException($"{what} is not a PNG image (only PNG is read; convert other formats to PNG first).");
        uint width = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(16, 4));
        uint height = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(20, 4));
        if (width == 0 || height == 0 || width > InputLimits.MaxImageSide || height > InputLimits.MaxImageSide)
            throw new AccelAesException($"{what} is {width}×{height} pixels; each side must be between 1 and {InputLimits.MaxImageSide}.");
        Png png;
        try
        {
            png = Png.Open(new MemoryStream(bytes, writable: false));
        }
        catch (Exception e) when (e is not AccelAesException and not OutOfMemoryException)
        {
            throw new AccelAesException($"{what} is not a readable PNG ({e.Message}).");
        }
        int w = png.Width, h = png.Height;
        var pixels = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                Pixel p = png.GetPixel(x, y);
                int o = (y * w + x) * 3;
                pixels[o] = p.R;
                pixels[o + 1] = p.G;
                pixels[o + 2] = p.B;
            }
        return new RgbImage(w, h, pixels);
    }
}
