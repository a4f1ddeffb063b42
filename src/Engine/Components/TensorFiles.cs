using AccelAes.Engine.Tensors;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Components;

/// <summary>Named tensors in safetensors files: the I/O format of <c>accelaes forward</c> and <c>denoise</c>.</summary>
public static class TensorFiles
{
    /// <summary>
    /// Reads every tensor of <paramref name="path"/> onto <paramref name="backend"/>: floating-point tensors as
    /// activations, integer and boolean tensors (token ids, masks) as I32 index tensors.
    /// </summary>
    public static Dictionary<string, Tensor> Read(string path, IBackend backend)
    {
        using var file = SafeTensorsSet.OpenFile(path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var info in file.Tensors)
        {
            var shape = new Shape(info.Shape.Select(d => checked((int)d)).ToArray());
            if (info.DType is SafeTensorDType.F32 or SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.F64)
            {
                result[info.Name] = backend.Upload(file.ReadAsFloat32(info.Name), shape);
            }
            else if (DTypeConversion.CanConvertToInt64(info.DType))
            {
                long[] values = file.ReadAsInt64(info.Name);
                var ints = new int[values.Length];
                for (int i = 0; i < values.Length; i++)
                    ints[i] = values[i] is >= int.MinValue and <= int.MaxValue
                        ? (int)values[i]
                        : throw new AccelAesException($"{path}: tensor '{info.Name}' element {i} = {values[i]} does not fit in 32 bits.");
                result[info.Name] = backend.UploadIndices(ints, shape);
            }
            else
            {
                throw new AccelAesException($"{path}: tensor '{info.Name}' has dtype {info.DType.HeaderName()}, which cannot be used as a model input.");
            }
        }
        return result;
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
