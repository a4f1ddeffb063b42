using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Vae;

/// <summary><c>nn.Conv2d</c> with stride 1 and "same" padding (k / 2), the only kind the VAE decoder uses: weight [out, in, k, k], bias [out].</summary>
public sealed class Conv2dLayer
{
    private readonly Tensor _weight;
    private readonly Tensor _bias;
    private readonly int _padding;

    private Conv2dLayer(Tensor weight, Tensor bias, int kernel)
    {
        _weight = weight;
        _bias = bias;
        _padding = kernel / 2;
    }

    public int InChannels => _weight.Shape[1];
    public int OutChannels => _weight.Shape[0];

    /// <param name="kernel">Odd kernel size (1 or 3 in the VAE).</param>
    public static Conv2dLayer Load(WeightReader w, string name, int inChannels, int outChannels, int kernel)
        => new(w.Get(name + ".weight", outChannels, inChannels, kernel, kernel), w.Get(name + ".bias", outChannels), kernel);

    /// <summary>x [B, in, H, W] → [B, out, H, W].</summary>
    public Tensor Forward(Tensor x) => x.Backend.Conv2d(x, _weight, _bias, stride: 1, padding: _padding);
}
