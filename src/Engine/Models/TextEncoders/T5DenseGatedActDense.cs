using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>T5DenseGatedActDense</c> (T5 v1.1, <c>feed_forward_proj="gated-gelu"</c>: act = gelu_new):
/// <c>wo(act(wi_0(x)) ⊙ wi_1(x))</c>, no biases.
/// </summary>
public sealed class T5DenseGatedActDense : IT5FeedForward
{
    private readonly LinearLayer _wi0, _wi1, _wo;
    private readonly TransformersActivation _activation;

    public T5DenseGatedActDense(WeightReader w, T5Config config)
    {
        _activation = new TransformersActivation(config.DenseActFn);
        _wi0 = LinearLayer.Load(w, "wi_0", config.DModel, config.DFf, bias: false);
        _wi1 = LinearLayer.Load(w, "wi_1", config.DModel, config.DFf, bias: false);
        _wo = LinearLayer.Load(w, "wo", config.DFf, config.DModel, bias: false);
    }

    public Tensor Forward(Tensor x)
    {
        Tensor gate = _activation.Linear(_wi0, x);
        return _wo.Forward(x.Backend.Multiply(gate, _wi1.Forward(x)));
    }
}
