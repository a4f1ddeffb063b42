using AccelAes.Engine.Tensors;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Weights;

/// <summary>Weights read from a (possibly sharded) safetensors checkpoint, zero-copy from the memory map.</summary>
public sealed class SafeTensorsWeightSource(SafeTensorsSet set, string description) : IWeightSource
{
    public string Description { get; } = description;

    public bool Contains(string name) => set.Contains(name);

    public IEnumerable<string> Names => set.Tensors.Select(t => t.Name);

    public Tensor Load(string name, Shape shape, IBackend backend)
    {
        SafeTensorInfo info = set.Get(name);
        if (info.Rank != shape.Rank || !info.Shape.Select(d => (long)d).SequenceEqual(shape.Dims.ToArray().Select(d => (long)d)))
            throw new WeightShapeException(name, info.FilePath,
                $"has shape [{string.Join(", ", info.Shape)}], but the config implies {shape}");
        DType source = info.DType switch
        {
            SafeTensorDType.F32 => DType.F32,
            SafeTensorDType.F16 => DType.F16,
            SafeTensorDType.BF16 => DType.BF16,
            _ => throw new WeightShapeException(name, info.FilePath, $"has dtype {info.DType}; weights must be F32, F16 or BF16"),
        };
        return backend.UploadWeight(set.GetBytes(info), source, shape);
    }
}
