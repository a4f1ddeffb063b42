using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>GemmaRMSNorm</c>: <c>x / √(mean(x²) + eps) · (1 + weight)</c> in fp32. The stored weight is
/// centred on 0. The gain is applied as <c>n + n ⊙ weight</c> rather than by precomputing <c>1 + weight</c>:
/// on a bf16 backend the precomputed gain would be rounded to bf16 around 1, losing most of the weight's bits,
/// while transformers adds the 1 in fp32.
/// </summary>
public sealed class GemmaRmsNorm
{
    private readonly Tensor _weight;
    private readonly float _eps;

    public GemmaRmsNorm(WeightReader w, int hiddenSize, double eps)
    {
        _weight = w.Get("weight", hiddenSize);
        _eps = (float)eps;
    }

    public Tensor Forward(Tensor x)
    {
        IBackend be = x.Backend;
        Tensor normalized = be.RmsNorm(x, _eps);
        return be.Add(normalized, be.Multiply(normalized, _weight));
    }
}
