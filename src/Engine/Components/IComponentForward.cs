using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Components;

/// <summary>One named input of a component's forward, named exactly as the diffusers / transformers forward names it.</summary>
public sealed record ForwardInput(string Name, bool Required, string Description);

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

/// <summary>Checks named inputs against a component's declared inputs.</summary>
public static class ForwardInputs
{
    public static void Validate(IComponentForward component, IReadOnlyDictionary<string, Tensor> inputs)
        => Validate(component.ClassName + " forward", component.Inputs, inputs);

    /// <summary>Checks <paramref name="inputs"/> against <paramref name="declared"/>; <paramref name="owner"/> names the callee in errors.</summary>
    public static void Validate(string owner, IReadOnlyList<ForwardInput> declared, IReadOnlyDictionary<string, Tensor> inputs)
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
        throw new Models.ModelInputException(name, $"Input '{name}' has shape {timestep.Shape}; expected a scalar, [1] or [{batch}].");
    }

    /// <summary>A float view of an input that users may give as integers (masks saved as int64, as torch accepts).</summary>
    public static Tensor AsFloat(Tensor t)
        => t.DType == DType.I32 ? t.Backend.Upload(t.Backend.Download(t), t.Shape) : t;

    /// <summary>An index view of an input that holds integers (token ids saved as float are accepted if integral).</summary>
    public static Tensor AsIndices(Tensor t, string name)
    {
        if (t.DType == DType.I32) return t;
        float[] v = t.Backend.Download(t);
        var ids = new int[v.Length];
        for (int i = 0; i < v.Length; i++)
        {
            if (v[i] != MathF.Round(v[i]) || Math.Abs(v[i]) > int.MaxValue)
                throw new Models.ModelInputException(name, $"Input '{name}' must hold integer ids; element {i} is {v[i]}.");
            ids[i] = (int)v[i];
        }
        return t.Backend.UploadIndices(ids, t.Shape);
    }
}
