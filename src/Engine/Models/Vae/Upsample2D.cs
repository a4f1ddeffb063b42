using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Vae;

/// <summary>
/// diffusers <c>Upsample2D(channels, use_conv=True)</c> (upsampling.py) as UpDecoderBlock2D builds it:
/// nearest-neighbour ×2 (<c>F.interpolate(scale_factor=2, mode="nearest")</c>), then a 3×3 conv, padding 1.
/// </summary>
public sealed class Upsample2D
{
    private readonly Conv2dLayer _conv;

    public Upsample2D(WeightReader w, int channels)
        => _conv = Conv2dLayer.Load(w, "conv", channels, channels, kernel: 3);

    /// <summary>x [B, C, H, W] → [B, C, 2H, 2W].</summary>
    public Tensor Forward(Tensor x) => _conv.Forward(x.Backend.UpsampleNearest2x(x));
}
