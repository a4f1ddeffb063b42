using AccelAes.Engine.Models;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Components;

/// <summary>
/// The one place where named input tensors (from <c>accelaes forward / denoise --inputs</c>, the conformance harness,
/// or a pipeline's own code) meet what a component or pipeline declares it takes. Every forward and denoise starts
/// with <see cref="Bind(string, IReadOnlyList{ForwardInput}, IReadOnlyDictionary{string, Tensor})"/>, so names, shapes and element types are checked, and errors name the user's tensor, before
/// any model work runs.
/// </summary>
public static class ForwardInputs
{
    public static IReadOnlyDictionary<string, Tensor> Bind(IComponentForward component, IReadOnlyDictionary<string, Tensor> inputs)
        => Bind(component.ClassName + " forward", component.Inputs, inputs);

    /// <summary>
    /// Checks <paramref name="inputs"/> against <paramref name="declared"/> and returns them as the model needs them:
    /// <list type="number">
    /// <item>names: no unknown input, no required input missing;</item>
    /// <item>shapes, in declaration order: each against its <see cref="InputShape"/> pattern, named sizes (B, L, …)
    /// agreeing across inputs, so a mismatch names both tensors as the caller passed them;</item>
    /// <item>element types (<see cref="InputConversion"/>): integer or boolean tensors become floats where the model
    /// computes with them, whole-number float tensors become indices where it looks rows up with them, exactly or not at all.</item>
    /// </list>
    /// <paramref name="owner"/> names the callee in errors ("SD3Transformer2DModel forward").
    /// </summary>
    public static IReadOnlyDictionary<string, Tensor> Bind(string owner, IReadOnlyList<ForwardInput> declared, IReadOnlyDictionary<string, Tensor> inputs)
    {
        CheckNames(owner, declared, inputs);
        var sizes = new Dictionary<string, (int Size, string Source)>(StringComparer.Ordinal);
        var bound = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var input in declared)
        {
            if (!inputs.TryGetValue(input.Name, out var tensor)) continue;
            CheckShape(owner, input, tensor.Shape, sizes);
            bound[input.Name] = input.Kind == InputKind.Indices
                ? InputConversion.ToIndices(tensor, input.Name)
                : InputConversion.ToValues(tensor, input.Name);
        }
        return bound;
    }

    private static void CheckNames(string owner, IReadOnlyList<ForwardInput> declared, IReadOnlyDictionary<string, Tensor> inputs)
    {
        var known = declared.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var unexpected = inputs.Keys.Where(k => !known.Contains(k)).Order().ToList();
        if (unexpected.Count > 0)
            throw new AccelAesException(
                $"{owner} does not take input(s) {string.Join(", ", unexpected.Select(n => $"'{n}'"))}; " +
                $"it takes {string.Join(", ", declared.Select(i => i.Required ? i.Name : i.Name + " (optional)"))}.");
        var missing = declared.Where(i => i.Required && !inputs.ContainsKey(i.Name)).Select(i => $"'{i.Name}'").ToList();
        if (missing.Count > 0)
            throw new AccelAesException($"{owner} needs input(s) {string.Join(", ", missing)}.");
    }

    private static void CheckShape(string owner, ForwardInput input, Shape shape, Dictionary<string, (int Size, string Source)> sizes)
    {
        // An empty dimension is never a real input (no latent, token or batch item is zero-sized); refusing it here
        // keeps zero-element tensors out of every kernel.
        for (int axis = 0; axis < shape.Rank; axis++)
            if (shape[axis] == 0)
                throw new ModelInputException(input.Name,
                    $"Input '{input.Name}' of {owner} has shape {shape}: dimension {axis} is empty; expected {input.Pattern?.Text ?? "a non-empty tensor"} ({input.Description}).");
        if (input.Pattern is null) return;
        string? expected = input.Pattern.Match(shape, $"'{input.Name}' {shape}", sizes);
        if (expected is not null)
            throw new ModelInputException(input.Name,
                $"Input '{input.Name}' of {owner} has shape {shape}; expected {expected} ({input.Description}).");
    }

    /// <summary>A timestep given as a scalar or [1] is broadcast to the batch, as torch's expand would.</summary>
    public static Tensor BroadcastTimestep(Tensor timestep, int batch, string name = "timestep")
    {
        if (timestep.Shape.Rank <= 1 && timestep.ElementCount == batch) return timestep.Reshape(batch);
        if (timestep.ElementCount == 1)
        {
            float t = timestep.Backend.Download(timestep)[0];
            var values = new float[batch];
            Array.Fill(values, t);
            return timestep.Backend.Upload(values, new Shape(batch));
        }
        throw new ModelInputException(name, $"Input '{name}' has shape {timestep.Shape}; expected a scalar, [1] or [{batch}].");
    }
}
