using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Ops;

/// <summary>Textbook double-precision formulas the backends are checked against.</summary>
internal static class Naive
{
    public static double Activate(double x, Activation act) => act switch
    {
        Activation.None => x,
        Activation.Silu => x / (1 + Math.Exp(-x)),
        Activation.GeluTanh => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
        Activation.Gelu => 0.5 * x * (1 + AccelAes.Engine.Backends.Cpu.CpuBackend.Erf(x / Math.Sqrt(2))),
        Activation.QuickGelu => x / (1 + Math.Exp(-1.702 * x)),
        Activation.Tanh => Math.Tanh(x),
        _ => throw new ArgumentOutOfRangeException(nameof(act)),
    };

    public static float[] Attention(float[] q, float[] k, float[] v, int batch, int sq, int sk, int hq, int hkv, int d, int dv,
        float scale, float[]? mask, bool causal)
    {
        var o = new float[batch * sq * hq * dv];
        var logits = new double[sk];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < hq; h++)
            {
                int kh = h / (hq / hkv);
                for (int i = 0; i < sq; i++)
                {
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < sk; j++)
                    {
                        bool visible = (mask is null || mask[b * sk + j] != 0) && (!causal || j <= i + sk - sq);
                        if (!visible) { logits[j] = double.NegativeInfinity; continue; }
                        double s = 0;
                        for (int p = 0; p < d; p++)
                            s += (double)q[((b * sq + i) * hq + h) * d + p] * k[((b * sk + j) * hkv + kh) * d + p];
                        logits[j] = s * scale;
                        max = Math.Max(max, logits[j]);
                    }
                    double z = 0;
                    for (int j = 0; j < sk; j++) z += double.IsNegativeInfinity(logits[j]) ? 0 : Math.Exp(logits[j] - max);
                    for (int p = 0; p < dv; p++)
                    {
                        double acc = 0;
                        for (int j = 0; j < sk; j++)
                            if (!double.IsNegativeInfinity(logits[j]))
                                acc += Math.Exp(logits[j] - max) / z * v[((b * sk + j) * hkv + kh) * dv + p];
                        o[((b * sq + i) * hq + h) * dv + p] = (float)acc;
                    }
                }
            }
        return o;
    }
}
