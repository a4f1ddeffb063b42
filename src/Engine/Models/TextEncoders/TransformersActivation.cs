using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// An activation named as transformers' <c>ACT2FN</c> names it (see <see cref="TransformersActivations"/>),
/// computed with the op set: fused into the preceding Linear where <see cref="Activation"/> has it.
/// </summary>
public readonly record struct TransformersActivation
{
    private readonly Activation? _fused;

    public TransformersActivation(string name)
    {
        Name = name;
        _fused = name switch
        {
            "gelu" or "gelu_python" => Activation.Gelu,
            // gelu_fast is the same tanh formula with √(2/π) written to 10 digits (a 3e-12 difference).
            "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => Activation.GeluTanh,
            "quick_gelu" => Activation.QuickGelu,
            "silu" or "swish" => Activation.Silu,
            "relu" => null,
            _ => throw new AccelAesException(
                $"Activation '{name}' is not supported; supported: {string.Join(", ", TransformersActivations.Supported)}."),
        };
    }

    public string Name { get; }

    /// <summary>act(layer(x)).</summary>
    public Tensor Linear(LinearLayer layer, Tensor x)
        => _fused is { } a ? layer.Forward(x, a) : x.Backend.Relu(layer.Forward(x));

    /// <summary>act(x).</summary>
    public Tensor Apply(Tensor x)
        => _fused is { } a ? x.Backend.Activate(x, a) : x.Backend.Relu(x);
}
