using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

/// <summary>An I32 tensor of the CPU backend (token ids, gather indices).</summary>
internal sealed class CpuIndexTensor : Tensor
{
    public CpuIndexTensor(CpuBackend backend, Shape shape, int[] data)
        : base(backend, shape, DType.I32) => Data = data;

    public int[] Data { get; }

    protected override Tensor ReshapeCore(Shape shape) => new CpuIndexTensor((CpuBackend)Backend, shape, Data);
}
