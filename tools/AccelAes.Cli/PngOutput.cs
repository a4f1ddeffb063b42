using BigGustave;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Loader.Files;

namespace AccelAes.Cli;

/// <summary>
/// Writes generated images as PNG with the settings in tEXt chunks. BigGustave does the encoding: a small,
/// pure-managed library (no native dependency, unlike SkiaSharp; no licence strings, unlike ImageSharp 3)
/// that can store text chunks. The file is written through <see cref="OutputFile"/> (checked, temporary name, renamed);
/// <c>what</c> is the option it came from, for messages.
/// </summary>
internal static class PngOutput
{
    public static void Write(string path, string what, RgbImage image, IEnumerable<KeyValuePair<string, string>> text)
    {
        var builder = PngBuilder.Create(image.Width, image.Height, hasAlphaChannel: false);
        byte[] p = image.Pixels;
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
            {
                int o = (y * image.Width + x) * 3;
                builder.SetPixel(p[o], p[o + 1], p[o + 2], x, y);
            }
        foreach (var (key, value) in text)
            builder.StoreText(key, value);
        OutputFile.Write(path, what, stream => builder.Save(stream));
    }
}
