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
        PackedQkvOp.Check("AttentionPacked", qkv);
        var (q, k, v) = PackedQkvOp.Unpack(this, qkv);
        return Attention(q, k, v, scale);
    }

    /// <summary>The reference: Attention of the materialised q, k, v, copied into the column slice.</summary>
    public void AttentionPackedInto(Tensor destination, int columnOffset, PackedQkv qkv, float scale)
    {
        PackedQkvOp.Check("AttentionPackedInto", qkv);
        var (q, k, v) = PackedQkvOp.Unpack(this, qkv);
        AttentionInto(destination, columnOffset, q, k, v, scale);
    }

    /// <summary>The reference: <see cref="AttentionInputsOp.Compose"/> over the parts' row slices, q and k copied back into their columns.</summary>
    public void PrepareAttentionInputsInPlace(PackedQkv qkv, IReadOnlyList<QkvPartNorms> parts, float eps, Tensor? cos = null, Tensor? sin = null)
    {
        var sliced = PackedQkvOp.Parts(this, qkv, parts, cos, sin, slice: true);
        var (q, k, _) = AttentionInputsOp.Compose(this, sliced, qkv.Heads, qkv.KvHeads, qkv.HeadDim, eps, cos, sin);
        var buffer = C(qkv.Buffer);
        int tokens = buffer.Shape[0] * buffer.Shape[1];
        CopyIntoColumns(C(q.Reshape(tokens, qkv.Heads * qkv.HeadDim)), buffer, 0);
        CopyIntoColumns(C(k.Reshape(tokens, qkv.KvHeads * qkv.HeadDim)), buffer, qkv.Heads * qkv.HeadDim);
    }
}
