using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Engine.Evaluation.ImageReward;

/// <summary>
/// Resizes an 8-bit image to <paramref name="width"/> × <paramref name="height"/> with bicubic interpolation, returning
/// 8-bit pixels as PIL's <c>Image.resize(..., BICUBIC)</c> does. The BLIP transform takes one so a PIL-exact resizer can
/// replace <see cref="BicubicResize.Resize"/> without touching the transform.
/// </summary>
public delegate RgbImage ImageResizer(RgbImage image, int width, int height);
