using System.Buffers.Binary;
using System.IO.Compression;
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
        byte[] bytes = InputFile.ReadAllBytes(path, InputLimits.MaxPngFileBytes, what);
        return Decode(bytes, $"{what} '{path}'");
    }

    public static RgbImage Decode(byte[] bytes, string what)
    {
        // Signature (8), IHDR length (4), "IHDR" (4), width (4, big-endian), height (4).
        if (bytes.Length < 24 || !bytes.AsSpan(0, 8).SequenceEqual(PngSignature) || !bytes.AsSpan(12, 4).SequenceEqual("IHDR"u8))
            throw new AccelAesException($"{what} is not a PNG file (only PNG is read; convert other formats to PNG first).");
        uint width = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(16, 4));
        uint height = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(20, 4));
        if (width == 0 || height == 0 || width > InputLimits.MaxImageSide || height > InputLimits.MaxImageSide)
            throw new AccelAesException($"{what} is {width}×{height} pixels; each side must be between 1 and {InputLimits.MaxImageSide}.");
        RequireBoundedImageData(bytes, width, height, what);
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

    /// <summary>
    /// BigGustave inflates all image data into memory before it looks at its size, so a small file whose data
    /// inflates to gigabytes (a deflate bomb) would exhaust memory there. This pass inflates the IDAT stream into
    /// nothing, stopping as soon as it exceeds what the header's size allows: at most 8 bytes a pixel (16-bit RGBA)
    /// plus a filter byte a row, for each of Adam7's 7 passes at worst.
    /// </summary>
    private static void RequireBoundedImageData(byte[] bytes, uint width, uint height, string what)
    {
        long limit = (long)(height + 7) * (1 + (long)width * 8) + 7 * (long)(height + 7);
        var data = new MemoryStream();
        int offset = 8, chunks = 0;
        while (offset + 8 <= bytes.Length && chunks++ < InputLimits.MaxPngChunks)
        {
            uint length = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(offset, 4));
            if (length > bytes.Length - offset - 12L)
                throw new AccelAesException($"{what} is not a readable PNG (chunk at byte {offset} runs past the end of the file).");
            ReadOnlySpan<byte> type = bytes.AsSpan(offset + 4, 4);
            if (type.SequenceEqual("IDAT"u8)) data.Write(bytes, offset + 8, (int)length);
            if (type.SequenceEqual("IEND"u8)) break;
            offset += 12 + (int)length;
        }
        data.Position = 0;
        var buffer = new byte[81920];
        long total = 0;
        try
        {
            using var inflater = new ZLibStream(data, CompressionMode.Decompress);
            int read;
            while ((read = inflater.Read(buffer, 0, buffer.Length)) > 0)
                if ((total += read) > limit)
                    throw new AccelAesException(
                        $"{what}: its image data inflates to more than the {limit:N0} bytes a {width}×{height} PNG can hold; the file is damaged or hostile.");
        }
        catch (InvalidDataException e)
        {
            throw new AccelAesException($"{what} is not a readable PNG ({e.Message}).");
        }
    }
}
