using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>The reference: <see cref="AttentionInputsOp.Compose"/> of the one part (the separate passes in fp32), v dropped.</summary>
    public PackedValueInputs PrepareQueryKey(QkvPart part, int heads, int kvHeads, int headDim, float eps, Tensor? cos = null, Tensor? sin = null,
        QkNorm norm = QkNorm.RmsPerHead)
    {
        var (q, k, _) = AttentionInputsOp.Compose(this, [part], heads, kvHeads, headDim, eps, cos, sin, norm);
        return new PackedValueInputs(q, k, new PackedQkv(part.Qkv, heads, kvHeads, headDim));
    }

    /// <summary>The reference materialises v (<see cref="PackedValueOp.Value"/>) and runs <see cref="Attention"/>.</summary>
    public Tensor AttentionPackedValue(Tensor q, Tensor k, PackedQkv qkv, float scale)
    {
        PackedValueOp.CheckAttention(q, k, qkv);
        return Attention(q, k, PackedValueOp.Value(this, qkv), scale);
    }
}
