using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>transformers <c>T5LayerFF</c> (<c>layer.1</c> of a block): <c>x + DenseReluDense(layer_norm(x))</c>.</summary>
public sealed class T5LayerFF
{
    private readonly IT5FeedForward _denseReluDense;
    private readonly T5LayerNorm _layerNorm;

    public T5LayerFF(WeightReader w, T5Config config)
    {
        WeightReader dense = w.Scope("DenseReluDense");
        _denseReluDense = config.IsGatedAct ? new T5DenseGatedActDense(dense, config) : new T5DenseActDense(dense, config);
        _layerNorm = new T5LayerNorm(w.Scope("layer_norm"), config.DModel, config.LayerNormEpsilon);
    }

    public Tensor Forward(Tensor x) => x.Backend.Add(x, _denseReluDense.Forward(_layerNorm.Forward(x)));
}
