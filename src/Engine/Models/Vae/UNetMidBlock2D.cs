using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Vae;

/// <summary>
/// diffusers <c>UNetMidBlock2D</c> (unet_2d_blocks.py) as the VAE decoder builds it: <c>num_layers</c> 1, so
/// resnet → attention → resnet at the deepest width, without time embedding. With
/// <c>mid_block_add_attention=false</c> the attention is skipped (and has no weights).
/// </summary>
public sealed class UNetMidBlock2D
{
    private readonly ResnetBlock2D _resnet0, _resnet1;
    private readonly MidBlockAttention? _attention;

    public UNetMidBlock2D(WeightReader w, int channels, int groups, float eps, bool addAttention)
    {
        _resnet0 = new ResnetBlock2D(w.Scope("resnets.0"), channels, channels, groups, eps);
        if (addAttention)
            _attention = new MidBlockAttention(w.Scope("attentions.0"), channels, groups, eps);
        _resnet1 = new ResnetBlock2D(w.Scope("resnets.1"), channels, channels, groups, eps);
    }

    public Tensor Forward(Tensor x)
    {
        Tensor h = _resnet0.Forward(x);
        if (_attention is not null) h = _attention.Forward(h);
        return _resnet1.Forward(h);
    }
}
