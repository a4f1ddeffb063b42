using AccelAes.Engine.Evaluation;
using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Cli;

/// <summary>
/// Reads a PNG's pixels as an <see cref="RgbImage"/> for `score` and `eval`: <see cref="RgbImageFile"/>, the reader
/// the scorers and `forward --image` share (size from the header checked first, image data bounded before it is
/// inflated, alpha dropped as PIL's <c>convert("RGB")</c> drops it).
/// </summary>
internal static class PngImageInput
{
    public static RgbImage Read(string path, string what) => RgbImageFile.Read(path, what);
}
