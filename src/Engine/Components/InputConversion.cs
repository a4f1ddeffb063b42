using AccelAes.Engine.Models;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Validation;

namespace AccelAes.Engine.Components;

/// <summary>
/// Element-type rules for named inputs, as PyTorch applies them where a model casts its inputs: an integer or boolean
/// tensor used as floats (<c>timestep.float()</c>, a mask multiplied in, <c>latents.to(dtype)</c>) keeps its values
/// when they are exact in float32, and a float tensor used as token ids must hold whole numbers. A conversion that
/// would change a value is refused, naming the tensor, the element and the value.
/// </summary>
/// <remarks>
/// Safetensors files arrive through <see cref="TensorFiles.Read"/>: floating-point dtypes as fp32 tensors, integer and
/// boolean dtypes (BOOL as 0/1) as I32 index tensors, already held to ±<see cref="InputLimits.MaxExactFloatInteger"/>.
/// </remarks>
public static class InputConversion
{
    /// <summary>An fp32 tensor with the values of <paramref name="t"/> (integers converted exactly, or refused).</summary>
    public static Tensor ToValues(Tensor t, string name)
    {
        if (t.DType != DType.I32) return t;
        float[] values = t.Backend.Download(t);
        for (int i = 0; i < values.Length; i++)
            if (Math.Abs(values[i]) > InputLimits.MaxExactFloatInteger)
                throw new ModelInputException(name,
                    $"Input '{name}' holds the integer {values[i]:R} at {Element(t.Shape, i)}, which float32 cannot hold exactly " +
                    $"(|v| ≤ {InputLimits.MaxExactFloatInteger:N0} = 2^24); the model computes with this input in floating point.");
        return t.Backend.Upload(values, t.Shape);
    }

    /// <summary>An I32 index tensor of <paramref name="t"/> (whole-number floats converted, anything else refused).</summary>
    public static Tensor ToIndices(Tensor t, string name)
    {
        if (t.DType == DType.I32) return t;
        float[] values = t.Backend.Download(t);
        var ids = new int[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (!(v == MathF.Floor(v)) || Math.Abs(v) > InputLimits.MaxExactFloatInteger)
                throw new ModelInputException(name,
                    $"Input '{name}' holds {v:R} at {Element(t.Shape, i)}; the model uses it as integers (token ids, an attention mask), " +
                    "so it must hold whole numbers (within ±2^24 when saved as floats; save it as int64, as the tokenizer returns it).");
            ids[i] = (int)v;
        }
        return t.Backend.UploadIndices(ids, t.Shape);
    }

    /// <summary>The multi-index of flat element <paramref name="flat"/>: "[0, 3]".</summary>
    public static string Element(Shape shape, int flat) => Element(shape.ToArray().Select(d => (long)d).ToArray(), flat);

    /// <inheritdoc cref="Element(Shape, int)"/>
    public static string Element(IReadOnlyList<long> dims, long flat)
    {
        var index = new long[dims.Count];
        for (int axis = dims.Count - 1; axis >= 0; axis--)
        {
            index[axis] = dims[axis] == 0 ? 0 : flat % dims[axis];
            flat = dims[axis] == 0 ? 0 : flat / dims[axis];
        }
        return "[" + string.Join(", ", index) + "]";
    }
}
