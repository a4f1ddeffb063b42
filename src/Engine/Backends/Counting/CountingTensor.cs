using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Counting;

/// <summary>
/// A tensor of the <see cref="CountingBackend"/>: a shape and a storage type, no device data. Tensors made from host
/// data (uploads, weights, zeros) can still give their values back (<see cref="HostValues"/>), because the models'
/// host-side logic reads some of them: Lumina's caption-mask check and its tanh(gate) table, its test whether attn2's
/// query weights equal attn1's, and FLUX's position ids. Values computed by ops do not exist.
/// </summary>
public sealed class CountingTensor : Tensor
{
    internal CountingTensor(CountingBackend backend, Shape shape, DType dtype, string producer, Func<float[]>? hostValues = null,
        int[]? hostIndices = null) : base(backend, shape, dtype)
    {
        Producer = producer;
        HostValues = hostValues;
        HostIndices = hostIndices;
    }

    /// <summary>The op that made this tensor (for the message when something asks for values that were never computed).</summary>
    public string Producer { get; }

    /// <summary>The values, for tensors made from host data (shared by reshapes); null for op outputs.</summary>
    public Func<float[]>? HostValues { get; }

    /// <summary>The indices of an index tensor uploaded from the host (the CUDA backend checks them on the host too).</summary>
    public int[]? HostIndices { get; }

    /// <summary>Bytes of storage in <see cref="DType"/> (what the CUDA backend would allocate and move).</summary>
    public long ByteCount => (long)ElementCount * SizeOf(DType);

    public static int SizeOf(DType dtype) => dtype switch
    {
        DType.F32 or DType.I32 => 4,
        _ => 2,
    };

    protected override Tensor ReshapeCore(Shape shape) =>
        new CountingTensor((CountingBackend)Backend, shape, DType, Producer, HostValues, HostIndices);
}
