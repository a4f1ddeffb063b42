using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Vae;

/// <summary><c>nn.GroupNorm(num_groups, num_channels, eps, affine=True)</c> over x [B, C, ...spatial].</summary>
public sealed class GroupNormLayer
{
    private readonly Tensor _weight, _bias;
    private readonly int _groups;
    private readonly float _eps;

    public GroupNormLayer(WeightReader w, string name, int channels, int groups, float eps)
    {
        _weight = w.Get(name + ".weight", channels);
        _bias = w.Get(name + ".bias", channels);
        _groups = groups;
        _eps = eps;
    }

    public Tensor Forward(Tensor x) => x.Backend.GroupNorm(x, _groups, _eps, _weight, _bias);
}
