using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>The reference: Linear's output, copied into the destination's row range of each batch item.</summary>
    public void LinearIntoRows(Tensor destination, int rowOffset, Tensor x, Tensor weight, Tensor? bias)
    {
        PackedQkvOp.CheckRows("LinearIntoRows", destination, rowOffset, x, weight);
        var d = C(destination);
        var y = C(Linear(x, weight, bias));
        int batch = x.Shape[0], rows = x.Shape[1], sequence = destination.Shape[1], width = destination.Shape[2];
        for (int b = 0; b < batch; b++)
            Array.Copy(y.Data, (long)b * rows * width, d.Data, ((long)b * sequence + rowOffset) * width, (long)rows * width);
    }

    /// <summary>The reference materialises q, k and v (<see cref="PackedQkvOp.Unpack"/>) and runs <see cref="Attention"/>.</summary>
    public Tensor AttentionPacked(PackedQkv qkv, float scale)
    {
        var (q, k, v) = PackedQkvOp.Unpack(this, qkv);
        return Attention(q, k, v, scale);
    }
}
