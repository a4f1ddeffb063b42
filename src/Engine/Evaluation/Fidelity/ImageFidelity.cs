using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Engine.Evaluation.Fidelity;

/// <summary>
/// How close an accelerated image is to the dense image of the same prompt and seed: PSNR over the RGB bytes and SSIM
/// on luma (<see cref="Ssim"/>). Identical images have PSNR +∞ (JSON null) and SSIM 1.
/// </summary>
public static class ImageFidelity
{
    /// <summary>10·log10(255² / MSE), the MSE over every channel of every pixel; +∞ for identical images.</summary>
    public static double Psnr(RgbImage image, RgbImage reference)
    {
        RequireSameSize(image, reference);
        byte[] a = image.Pixels, b = reference.Pixels;
        double squares = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = a[i] - b[i];
            squares += d * d;
        }
        double mse = squares / a.Length;
        return mse == 0 ? double.PositiveInfinity : 10 * Math.Log10(255.0 * 255.0 / mse);
    }

    /// <summary>SSIM of the two images' luma (<see cref="Ssim.Luma"/>), as <see cref="Ssim.Compute"/> defines it.</summary>
    public static double Ssim(RgbImage image, RgbImage reference)
    {
        RequireSameSize(image, reference);
        return Fidelity.Ssim.Compute(Fidelity.Ssim.Luma(image), Fidelity.Ssim.Luma(reference), image.Width, image.Height);
    }

    private static void RequireSameSize(RgbImage image, RgbImage reference)
    {
        if (image.Width != reference.Width || image.Height != reference.Height)
            throw new AccelAesException(
                $"Fidelity needs images of one size: {image.Width}×{image.Height} against the dense {reference.Width}×{reference.Height}.");
    }
}
