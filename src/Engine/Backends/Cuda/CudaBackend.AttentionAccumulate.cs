using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cuda;

public sealed partial class CudaBackend
{
    /// <summary>
    /// The attention kernel (flash or reference, as the plan picks) with its accumulate epilogue: each output element becomes
    /// bf16(fmaf(headScale[h], o, destination)) with o the normalised fp32 attention output, so the destination is read and
    /// written once and rounded once, and no attention output tensor exists (Lumina's A_self + tanh(gate)[h]·A_cross).
    /// The head scale is read as fp32 (a bf16 one is widened into a temporary).
    /// </summary>
    public void AttentionAddScaledInto(Tensor destination, Tensor headScale, Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask = null)
    {
        var cd = Own(destination);
        if (cd.DType != DType.BF16)
            throw new ArgumentException($"{AttentionAccumulate.Name}: destination {destination.Shape} is {cd.DType}; attention writes bf16.");
        var cs = Float(headScale, AttentionAccumulate.Name);
        AttentionAccumulate.Check(destination, headScale, q, v);
        // The kernel's output rows are tokens of Hq·Dv elements: the destination seen as [B, Sq, Hq·Dv], column 0.
        var rows = Own(destination.Reshape(q.Shape[0], q.Shape[1], q.Shape[2] * v.Shape[3]));
        AttentionCore(q, k, v, scale, keyMask, false, null, null, withLse: false, ForceReferenceAttention, AttentionAccumulate.Name, (rows, 0), cs);
    }
}
