using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Components;

/// <summary>
/// One named input of a component's forward (or a pipeline's denoise), named exactly as the diffusers / transformers
/// code names it. <paramref name="Shape"/> is an <see cref="InputShape"/> pattern ("[B, 16, H, W]"; null: any shape);
/// <paramref name="Kind"/> says whether the model computes with its values or indexes with them.
/// <c>ForwardInputs.Bind</c> checks and converts every input against these before anything runs.
/// </summary>
public sealed record ForwardInput(string Name, bool Required, string Description, string? Shape = null, InputKind Kind = InputKind.Values)
{
    /// <summary>The parsed <see cref="Shape"/> (parsed once, so a malformed pattern fails when the component is built).</summary>
    public InputShape? Pattern { get; } = Shape is null ? null : InputShape.Parse(Shape);
}

/// <summary>What a model does with an input's elements, which decides the tensor it must be given.</summary>
public enum InputKind
{
    /// <summary>Computes with them in floating point (activations, timesteps, masks, position ids): an fp32 tensor.</summary>
    Values,

    /// <summary>Looks rows up with them (token ids): an I32 index tensor.</summary>
    Indices,
}

/// <summary>
/// A loaded model component driven by named tensors, as its Python forward is called with keyword arguments.
/// Used by <c>accelaes forward</c> (conformance harness, and for users comparing against their PyTorch runs).
/// </summary>
public interface IComponentForward
{
    /// <summary>The diffusers / transformers class this component implements.</summary>
    string ClassName { get; }

    IReadOnlyList<ForwardInput> Inputs { get; }

    /// <summary>Runs the forward. Unknown or missing input names are errors naming them.</summary>
    IReadOnlyDictionary<string, Tensor> Forward(IReadOnlyDictionary<string, Tensor> inputs);
}
