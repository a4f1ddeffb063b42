using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Vae;

/// <summary>
/// diffusers <c>UpDecoderBlock2D</c> (unet_2d_blocks.py): <c>num_layers</c> resnets (the first one changes the
/// width from <c>in_channels</c> to <c>out_channels</c>), then an optional
/// <see cref="Upsample2D"/> (<c>upsamplers.0</c>), present on every decoder block but the last.
/// </summary>
public sealed class UpDecoderBlock2D
{
    private readonly ResnetBlock2D[] _resnets;
    private readonly Upsample2D? _upsampler;

    public UpDecoderBlock2D(WeightReader w, int inChannels, int outChannels, int numLayers, int groups, float eps, bool addUpsample)
    {
        _resnets = new ResnetBlock2D[numLayers];
        for (int i = 0; i < numLayers; i++)
            _resnets[i] = new ResnetBlock2D(w.Scope($"resnets.{i}"), i == 0 ? inChannels : outChannels, outChannels, groups, eps);
        if (addUpsample)
            _upsampler = new Upsample2D(w.Scope("upsamplers.0"), outChannels);
    }

    /// <summary>x [B, in, H, W] → [B, out, H, W], or [B, out, 2H, 2W] with the upsampler.</summary>
    public Tensor Forward(Tensor x)
    {
        Tensor h = x;
        foreach (var resnet in _resnets) h = resnet.Forward(h);
        return _upsampler?.Forward(h) ?? h;
    }
}
