using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>T5LayerNorm</c>: <c>weight · x / √(mean(x²) + eps)</c>, an RMS norm without mean subtraction
/// or bias, the mean of squares taken in fp32.
/// </summary>
public sealed class T5LayerNorm
{
    private readonly Tensor _weight;
    private readonly float _eps;

    public T5LayerNorm(WeightReader w, int hiddenSize, double eps)
    {
        _weight = w.Get("weight", hiddenSize);
        _eps = (float)eps;
    }

    public Tensor Forward(Tensor x) => x.Backend.RmsNorm(x, _eps, _weight);
}
