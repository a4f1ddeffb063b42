using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Engine.Evaluation.EdgeDensity;

/// <summary>
/// PIL's <c>Image.convert("L")</c> of an RGB image, bit for bit: Pillow's <c>rgb2l</c> computes
/// (R·19595 + G·38470 + B·7471 + 0x8000) >> 16 in integers (ITU-R 601-2 weights in 16-bit fixed point, rounded),
/// python-pillow/Pillow src/libImaging/Convert.c, <c>L24</c> / <c>rgb2l</c> (commit 01ced32f23aa4ad81933227d203f0e91a60aa972).
/// That is not the (299, 587, 114)/1000 formula of PIL's documentation: pure red is 76 here, 77 there, and the
/// reference evaluation ran Pillow, so its numbers follow this one.
/// </summary>
public static class PilGrayscale
{
    /// <summary>One pixel's luma, 0–255.</summary>
    public static byte Luma(byte r, byte g, byte b) => (byte)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);

    /// <summary>The image's luma plane, rows top to bottom.</summary>
    public static byte[] Convert(RgbImage image)
    {
        var luma = new byte[image.Width * image.Height];
        byte[] p = image.Pixels;
        for (int i = 0; i < luma.Length; i++)
            luma[i] = Luma(p[3 * i], p[3 * i + 1], p[3 * i + 2]);
        return luma;
    }
}
