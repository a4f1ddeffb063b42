namespace AccelAes.Loader.Diffusers.Configs;

/// <summary>
/// The activation names of transformers' <c>ACT2FN</c> table (activations.py) that the engine computes.
/// Configs check their activation field against this list, so an unsupported name fails at load, naming the field.
/// </summary>
public static class TransformersActivations
{
    /// <summary>
    /// <c>gelu</c> / <c>gelu_python</c>: exact erf GELU; <c>gelu_new</c> / <c>gelu_pytorch_tanh</c> / <c>gelu_fast</c>: the
    /// tanh approximation (gelu_fast writes the same formula with √(2/π) rounded to 10 digits); <c>quick_gelu</c>:
    /// x·σ(1.702x); <c>silu</c> / <c>swish</c>: x·σ(x); <c>relu</c>.
    /// </summary>
    public static IReadOnlyList<string> Supported { get; } =
        ["gelu", "gelu_python", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "quick_gelu", "silu", "swish", "relu"];

    /// <summary>Reads an activation name, refusing names outside <see cref="Supported"/>.</summary>
    public static string Read(JsonConfig c, string field, string defaultValue)
    {
        string? value = c.GetString(field, defaultValue) ?? defaultValue;
        if (!Supported.Contains(value))
            throw c.Unsupported(field, value, "supported activations: " + string.Join(", ", Supported));
        return value;
    }
}
