using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Lumina;

/// <summary>
/// diffusers <c>LuminaFeedForward</c>, a SwiGLU without biases: <c>linear_2(SiLU(linear_1(x)) ⊙ linear_3(x))</c>.
/// linear_1 is the gate branch (w1), linear_3 the up branch (w3), linear_2 the down projection (w2). diffusers'
/// FP32SiLU only matters for bf16 activations; the SiLU here is fused into linear_1's GEMM.
/// </summary>
public sealed class LuminaFeedForward
{
    private readonly LinearLayer _linear1, _linear2, _linear3;

    public LuminaFeedForward(WeightReader w, int dim, int innerDim)
    {
        _linear1 = LinearLayer.Load(w, "linear_1", dim, innerDim, bias: false);
        _linear2 = LinearLayer.Load(w, "linear_2", innerDim, dim, bias: false);
        _linear3 = LinearLayer.Load(w, "linear_3", dim, innerDim, bias: false);
    }

    public Tensor Forward(Tensor x)
        => _linear2.Forward(x.Backend.Multiply(_linear1.Forward(x, Activation.Silu), _linear3.Forward(x)));
}
