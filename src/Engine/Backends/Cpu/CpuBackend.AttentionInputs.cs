using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>The reference: the separate passes in fp32 (<see cref="AttentionInputsOp.Compose"/>), nothing rounded in between.</summary>
    public AttentionInputs PrepareAttentionInputs(IReadOnlyList<QkvPart> parts, int heads, int kvHeads, int headDim, float eps, Tensor? cos = null, Tensor? sin = null,
        QkNorm norm = QkNorm.RmsPerHead)
        => AttentionInputsOp.Compose(this, parts, heads, kvHeads, headDim, eps, cos, sin, norm);

    /// <summary>The reference: the slice, then the Linear.</summary>
    public Tensor LinearOfRows(Tensor x, int start, int count, Tensor weight, Tensor? bias)
    {
        RowRange.Check("LinearOfRows", x, start, count);
        return Linear(Slice(x, 1, start, count), weight, bias);
    }
}
