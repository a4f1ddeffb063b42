using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Layers;

/// <summary>
/// diffusers <c>AdaLayerNormContinuous(elementwise_affine=False, eps=1e-6)</c>: <c>linear(SiLU(cond))</c>
/// chunked as <b>scale, shift</b> (not shift, scale: the converters swap the halves), then
/// <c>LN(x)·(1 + scale) + shift</c>.
/// </summary>
public sealed class AdaLayerNormContinuous
{
    private readonly LinearLayer _linear;

    public AdaLayerNormContinuous(WeightReader w, int dim, int conditioningDim)
        => _linear = LinearLayer.Load(w, "linear", conditioningDim, 2 * dim);

    public Tensor Forward(Tensor x, Tensor siluConditioning)
    {
        var mod = new Modulation(_linear.Forward(siluConditioning), 2);
        IBackend be = x.Backend;
        return be.LayerNormModulate(x, 1e-6f, scale: mod[0], shift: mod[1]);
    }
}
