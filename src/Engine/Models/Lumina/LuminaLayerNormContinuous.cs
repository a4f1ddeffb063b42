using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Lumina;

/// <summary>
/// diffusers <c>LuminaLayerNormContinuous</c> as <c>norm_out</c>: LayerNorm(D, no affine, eps 1e-6) of x times
/// (1 + linear_1(SiLU(c))) — a scale only, no shift — then <c>linear_2</c> to p·p·out_channels features.
/// </summary>
public sealed class LuminaLayerNormContinuous
{
    private const float Eps = 1e-6f;

    private readonly LinearLayer _linear1;
    private readonly LinearLayer _linear2;

    public LuminaLayerNormContinuous(WeightReader w, int embeddingDim, int conditioningDim, int outDim)
    {
        _linear1 = LinearLayer.Load(w, "linear_1", conditioningDim, embeddingDim);
        _linear2 = LinearLayer.Load(w, "linear_2", embeddingDim, outDim);
    }

    public Tensor Forward(Tensor x, Tensor siluConditioning)
    {
        IBackend be = x.Backend;
        Tensor scale = _linear1.Forward(siluConditioning);
        return _linear2.Forward(be.LayerNormModulate(x, Eps, scale, shift: null));
    }
}
