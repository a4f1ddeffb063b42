using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Weights;

/// <summary>
/// <c>--weights fp8</c>: the inner source's Linear weight matrices (<see cref="LinearWeightNames"/>) quantised at load
/// to F8_E4M3 with one fp32 scale per output channel (<see cref="Float8Quantizer"/>: max|row| / 448, nearest-even,
/// saturating); every other tensor (biases, norms, convolutions, embeddings) passes through in its stored dtype, as
/// diffusers' layer-wise casting keeps them. The backend receives the codes and scales
/// (<see cref="IBackend.UploadFp8Weight"/>): the CPU backend computes with the exactly dequantised fp32 values (DESIGN
/// §8: that defines fp8's semantics); the CUDA backend keeps the codes on the device (1 byte per element) and reads
/// them as the bf16 rounding of those values.
/// One tensor at a time is decoded to fp32 on the host, never the checkpoint.
/// </summary>
public sealed class Fp8QuantizedWeightSource(IWeightSource inner) : IWeightSource
{
    public string Description => inner.Description + " (Linear weights quantised to fp8 e4m3, per-output-channel scales)";

    public bool Contains(string name) => inner.Contains(name);

    public IEnumerable<string> Names => inner.Names;

    public Tensor Load(string name, Shape shape, IBackend backend)
    {
        if (!LinearWeightNames.IsLinearWeight(name, shape.Rank)) return inner.Load(name, shape, backend);
        float[] values;
        using (var cpu = new CpuBackend())
        using (Tensor stored = inner.Load(name, shape, cpu))
            values = cpu.Download(stored);
        int columns = shape[1];
        var codes = new byte[values.Length];
        var scales = new float[shape[0]];
        if (!Float8Quantizer.QuantizeRows(values, columns, codes, scales))
            throw new WeightShapeException(name, inner.Description, "has NaN or infinite values, which have no fp8 scale (--weights fp8)");
        return backend.UploadFp8Weight(codes, scales, shape);
    }
}
