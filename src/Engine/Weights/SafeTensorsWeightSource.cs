using System.Runtime.InteropServices;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Weights;

/// <summary>
/// Weights read from a (possibly sharded) safetensors checkpoint, zero-copy from the memory map. F32, F16 and BF16 go
/// to the backend as stored. fp8 tensors are what diffusers' layer-wise casting saves (<c>enable_layerwise_casting(
/// storage_dtype=torch.float8_e4m3fn)</c> then <c>save_pretrained</c>: plain casts, no scales): an F8_E4M3 Linear weight
/// matrix goes to the backend as its codes with scale 1 (<see cref="IBackend.UploadFp8Weight"/>: it stays fp8 on the
/// CUDA device), any other fp8 tensor (E5M2, or e4m3 outside a Linear) is decoded exactly to fp32 — the CPU semantics.
/// </summary>
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
        switch (info.DType)
        {
            case SafeTensorDType.F32: return backend.UploadWeight(set.GetBytes(info), DType.F32, shape);
            case SafeTensorDType.F16: return backend.UploadWeight(set.GetBytes(info), DType.F16, shape);
            case SafeTensorDType.BF16: return backend.UploadWeight(set.GetBytes(info), DType.BF16, shape);
            case SafeTensorDType.F8E4M3 when LinearWeightNames.IsLinearWeight(name, shape.Rank):
                var unitScales = new float[shape[0]];
                Array.Fill(unitScales, 1f);
                return backend.UploadFp8Weight(set.GetBytes(info), unitScales, shape);
            case SafeTensorDType.F8E4M3 or SafeTensorDType.F8E5M2:
                return backend.UploadWeight(MemoryMarshal.AsBytes(
                    DTypeConversion.ToFloat32(set.GetBytes(info), info.DType).AsSpan()), DType.F32, shape);
            default:
                throw new WeightShapeException(name, info.FilePath,
                    $"has dtype {info.DType}; weights must be F32, F16, BF16 or fp8 (F8_E4M3, F8_E5M2)");
        }
    }
}
