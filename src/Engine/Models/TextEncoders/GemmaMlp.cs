using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>GemmaMLP</c>: <c>down_proj(act(gate_proj(x)) ⊙ up_proj(x))</c>, no biases, act =
/// <c>hidden_activation</c> (gelu_pytorch_tanh: GeGLU with the tanh approximation).
/// </summary>
public sealed class GemmaMlp
{
    private readonly LinearLayer _gateProj, _upProj, _downProj;
    private readonly TransformersActivation _activation;

    public GemmaMlp(WeightReader w, GemmaConfig config)
    {
        _activation = new TransformersActivation(config.HiddenActivation);
        _gateProj = LinearLayer.Load(w, "gate_proj", config.HiddenSize, config.IntermediateSize, bias: false);
        _upProj = LinearLayer.Load(w, "up_proj", config.HiddenSize, config.IntermediateSize, bias: false);
        _downProj = LinearLayer.Load(w, "down_proj", config.IntermediateSize, config.HiddenSize, bias: false);
    }

    public Tensor Forward(Tensor x)
        => _downProj.Forward(x.Backend.Multiply(_activation.Linear(_gateProj, x), _upProj.Forward(x)));
}
