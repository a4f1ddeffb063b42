using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Evaluation;

/// <summary>
/// A scorer's image preprocessing: 8-bit RGB images → the normalised <c>pixel_values</c> [B, 3, H, W] its image tower
/// reads. transformers' CLIPImageProcessor (CLIP score, aesthetic) and torchvision's Resize / CenterCrop / Normalize
/// (ImageReward, HPSv2) differ in where they resample and how they crop, and a score moves with them.
/// </summary>
public interface IPixelValuesProcessor
{
    Tensor PixelValues(IBackend backend, IReadOnlyList<RgbImage> images);
}
