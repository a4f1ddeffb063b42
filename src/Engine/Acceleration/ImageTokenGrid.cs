namespace AccelAes.Engine.Acceleration;

/// <summary>The image-token grid of a run: latent size over the patch size (one token per patch).</summary>
/// <param name="Height">Token rows.</param>
/// <param name="Width">Token columns.</param>
public readonly record struct ImageTokenGrid(int Height, int Width)
{
    /// <summary>The grid of an image of <paramref name="width"/> × <paramref name="height"/> pixels at <paramref name="pixelsPerToken"/> pixels a token side.</summary>
    public static ImageTokenGrid OfImage(int width, int height, int pixelsPerToken) => new(height / pixelsPerToken, width / pixelsPerToken);

    public override string ToString() => $"{Height} × {Width}";
}
