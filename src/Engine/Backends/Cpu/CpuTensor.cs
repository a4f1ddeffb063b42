using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

/// <summary>A tensor of the CPU reference backend: fp32 values in a managed array (shared by reshapes).</summary>
internal sealed class CpuTensor : Tensor
{
    public CpuTensor(CpuBackend backend, Shape shape, float[] data)
        : base(backend, shape, DType.F32)
    {
        if (data.Length < shape.ElementCount)
            throw new ArgumentException($"Storage of {data.Length} elements is too small for {shape}.");
        Data = data;
    }

    /// <summary>The values, row-major; exactly <see cref="Tensor.ElementCount"/> long.</summary>
    public float[] Data { get; }

    public Span<float> Span => Data.AsSpan(0, ElementCount);

    protected override Tensor ReshapeCore(Shape shape) => new CpuTensor((CpuBackend)Backend, shape, Data);
}
