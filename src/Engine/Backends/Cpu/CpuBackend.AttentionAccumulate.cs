using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>
    /// The reference: Attention's fp32 output o, then destination + (o · headScale[h]) in fp32, the product rounded to fp32
    /// before the add (AddScaled's reference). A device keeps o in fp32 too and rounds the sum once, to bf16.
    /// </summary>
    public void AttentionAddScaledInto(Tensor destination, Tensor headScale, Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask = null)
    {
        var dst = C(destination);
        float[] factors = C(headScale).Data;
        AttentionAccumulate.Check(destination, headScale, q, v);
        float[] o = C(Attention(q, k, v, scale, keyMask)).Data;
        int heads = q.Shape[2], dv = v.Shape[3];
        float[] d = dst.Data;
        long rows = (long)dst.ElementCount / Math.Max(1, dv);
        for (long row = 0; row < rows; row++)
        {
            float s = factors[row % heads];
            var target = d.AsSpan((int)(row * dv), dv);
            var source = o.AsSpan((int)(row * dv), dv);
            for (int c = 0; c < dv; c++)
                target[c] += source[c] * s;
        }
    }
}
