using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>transformers <c>T5DenseActDense</c> (original T5, <c>feed_forward_proj="relu"</c>): <c>wo(act(wi(x)))</c>, no biases.</summary>
public sealed class T5DenseActDense : IT5FeedForward
{
    private readonly LinearLayer _wi, _wo;
    private readonly TransformersActivation _activation;

    public T5DenseActDense(WeightReader w, T5Config config)
    {
        _activation = new TransformersActivation(config.DenseActFn);
        _wi = LinearLayer.Load(w, "wi", config.DModel, config.DFf, bias: false);
        _wo = LinearLayer.Load(w, "wo", config.DFf, config.DModel, bias: false);
    }

    public Tensor Forward(Tensor x) => _wo.Forward(_activation.Linear(_wi, x));
}
