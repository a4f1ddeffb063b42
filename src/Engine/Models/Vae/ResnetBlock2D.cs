using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Vae;

/// <summary>
/// diffusers <c>ResnetBlock2D</c> (resnet.py) as the VAE decoder builds it: no time embedding
/// (<c>temb_channels=None</c>), pre-norm, dropout 0, <c>output_scale_factor</c> 1. A 1×1
/// <c>conv_shortcut</c> exists only when the width changes.
/// <code>out = shortcut(x) + conv2(SiLU(norm2(conv1(SiLU(norm1(x))))))</code>
/// </summary>
public sealed class ResnetBlock2D
{
    private readonly GroupNormLayer _norm1, _norm2;
    private readonly Conv2dLayer _conv1, _conv2;
    private readonly Conv2dLayer? _convShortcut;

    public ResnetBlock2D(WeightReader w, int inChannels, int outChannels, int groups, float eps)
    {
        _norm1 = new GroupNormLayer(w, "norm1", inChannels, groups, eps);
        _conv1 = Conv2dLayer.Load(w, "conv1", inChannels, outChannels, kernel: 3);
        _norm2 = new GroupNormLayer(w, "norm2", outChannels, groups, eps);
        _conv2 = Conv2dLayer.Load(w, "conv2", outChannels, outChannels, kernel: 3);
        // diffusers: use_in_shortcut = in_channels != conv_2d_out_channels.
        if (inChannels != outChannels)
            _convShortcut = Conv2dLayer.Load(w, "conv_shortcut", inChannels, outChannels, kernel: 1);
    }

    /// <summary>x [B, in, H, W] → [B, out, H, W].</summary>
    public Tensor Forward(Tensor x)
    {
        IBackend be = x.Backend;
        Tensor h = _conv1.Forward(be.Activate(_norm1.Forward(x), Activation.Silu));
        h = _conv2.Forward(be.Activate(_norm2.Forward(h), Activation.Silu));
        Tensor shortcut = _convShortcut?.Forward(x) ?? x;
        return be.Add(shortcut, h);
    }
}
