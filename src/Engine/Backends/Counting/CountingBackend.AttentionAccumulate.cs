using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Counting;

/// <summary>The counting rule of the accumulating attention epilogue (CudaBackend.AttentionAccumulate.cs).</summary>
public sealed partial class CountingBackend
{
    /// <summary>
    /// One attention launch as <see cref="Attention"/>, whose epilogue also reads the destination (bf16, as many bytes as it
    /// writes) and the fp32 head scale (a bf16 one is widened first): no output tensor, no separate AddScaled pass.
    /// </summary>
    public void AttentionAddScaledInto(Tensor destination, Tensor headScale, Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask = null)
    {
        const string op = AttentionAccumulate.Name;
        var (cd, cs) = (C(destination, op), C(headScale, op));
        AttentionAccumulate.Check(destination, headScale, q, v);
        if (cd.ElementCount == 0) return;
        ToF32(op, cs);
        AttentionCore(op, q, k, v, keyMask, null, keyWeights: null, into: true, accumulateRead: Bf16Bytes(cd) + F32Bytes(cs));
    }
}
