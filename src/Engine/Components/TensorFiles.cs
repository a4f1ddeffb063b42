using AccelAes.Engine.Tensors;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.Validation;

namespace AccelAes.Engine.Components;

/// <summary>Named tensors in safetensors files: the I/O format of <c>accelaes forward</c> and <c>denoise</c>.</summary>
public static class TensorFiles
{
    /// <summary>
    /// Reads every tensor of <paramref name="path"/> onto <paramref name="backend"/>: floating-point tensors as fp32
    /// activations, integer and boolean tensors (token ids, masks, a timestep saved by <c>torch.tensor([500])</c>) as
    /// I32 index tensors, BOOL as 0/1. What each input must be is decided where it is bound
    /// (<c>ForwardInputs.Bind</c>, <see cref="InputConversion"/>); here integers are held to
    /// ±<see cref="InputLimits.MaxExactFloatInteger"/> (2^24), where the values are still exact, so that the binding
    /// can turn them into floats without changing one. No real integer input comes near that bound.
    /// </summary>
    public static Dictionary<string, Tensor> Read(string path, IBackend backend)
    {
        using var file = SafeTensorsSet.OpenFile(path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var info in file.Tensors)
        {
            var shape = ShapeOf(path, info.Name, info.Shape);
            if (info.DType is SafeTensorDType.F32 or SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.F64)
            {
                result[info.Name] = backend.Upload(file.ReadAsFloat32(info.Name), shape);
            }
            else if (DTypeConversion.CanConvertToInt64(info.DType))
            {
                long[] values = ReadIntegers(file, path, info);
                var ints = new int[values.Length];
                for (int i = 0; i < values.Length; i++)
                    ints[i] = Math.Abs(values[i]) <= InputLimits.MaxExactFloatInteger
                        ? (int)values[i]
                        : throw new AccelAesException(
                            $"{path}: tensor '{info.Name}' ({info.DType.HeaderName()}) holds {values[i]} at {InputConversion.Element(info.Shape, i)}; " +
                            $"integer inputs must lie within ±{InputLimits.MaxExactFloatInteger:N0} (2^24), the integers float32 holds exactly " +
                            "(timesteps, masks and position ids are used as floats; token ids are far smaller).");
                result[info.Name] = backend.UploadIndices(ints, shape);
            }
            else
            {
                throw new AccelAesException($"{path}: tensor '{info.Name}' has dtype {info.DType.HeaderName()}, which cannot be used as a model input.");
            }
        }
        return result;
    }

    private static long[] ReadIntegers(SafeTensorsSet file, string path, SafeTensorInfo info)
    {
        try
        {
            return file.ReadAsInt64(info.Name);
        }
        catch (OverflowException)
        {
            // Only a U64 element above 2^63 overflows int64, and it is far beyond what any integer input may hold.
            throw new AccelAesException(
                $"{path}: tensor '{info.Name}' ({info.DType.HeaderName()}) holds a value above 2^63; integer inputs must lie within " +
                $"±{InputLimits.MaxExactFloatInteger:N0} (2^24).");
        }
    }

    /// <summary>The tensor's shape as the backends index it (every dimension and the element count within int).</summary>
    private static Shape ShapeOf(string path, string name, IReadOnlyList<long> dims)
    {
        if (dims.Any(d => d > int.MaxValue))
            throw new AccelAesException(
                $"{path}: tensor '{name}' has shape [{string.Join(", ", dims)}], a dimension beyond {int.MaxValue:N0}, more than a tensor may hold.");
        try
        {
            return new Shape(dims.Select(d => (int)d).ToArray());
        }
        catch (AccelAesException e)
        {
            throw new AccelAesException($"{path}: tensor '{name}': {e.Message}");
        }
    }

    /// <summary>Writes tensors as F32 through <see cref="Loader.Files.OutputFile"/> (checked, then a temporary file renamed into place).</summary>
    /// <param name="what">How messages name the output: the option it came from, such as <c>--out</c>.</param>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null,
        string what = "safetensors file")
    {
        var writer = new SafeTensorsWriter();
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
            writer.AddMetadata(key, value);
        foreach (var (name, tensor) in tensors)
            writer.Add(name, tensor.Shape.Dims.ToArray().Select(d => (long)d).ToArray(), tensor.Backend.Download(tensor));
        writer.Save(path, what);
    }
}
