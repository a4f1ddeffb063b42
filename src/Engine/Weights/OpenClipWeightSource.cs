using AccelAes.Engine.Tensors;
using AccelAes.Loader.OpenClip;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Weights;

/// <summary>
/// Weights of an open_clip CLIP checkpoint (HPSv2's .pt) under transformers' CLIPModel names, so the CLIP model code
/// reads them exactly as it reads a transformers folder (see <see cref="OpenClipCheckpoint"/> for the mapping).
/// </summary>
public sealed class OpenClipWeightSource(OpenClipCheckpoint checkpoint) : IWeightSource
{
    public string Description => $"{checkpoint.Source} (open_clip layout)";

    public bool Contains(string name) => checkpoint.Contains(name);

    public IEnumerable<string> Names => checkpoint.Names;

    public Tensor Load(string name, Shape shape, IBackend backend)
    {
        var actual = checkpoint.ShapeOf(name);
        if (actual.Count != shape.Rank || !actual.SequenceEqual(shape.Dims.ToArray().Select(d => (long)d)))
            throw new WeightShapeException(name, Description, $"has shape [{string.Join(", ", actual)}], but the config implies {shape}");
        DType source = checkpoint.DTypeOf(name) switch
        {
            SafeTensorDType.F32 => DType.F32,
            SafeTensorDType.F16 => DType.F16,
            SafeTensorDType.BF16 => DType.BF16,
            var other => throw new WeightShapeException(name, Description, $"has dtype {other}; weights must be F32, F16 or BF16"),
        };
        return backend.UploadWeight(checkpoint.GetBytes(name), source, shape);
    }
}
