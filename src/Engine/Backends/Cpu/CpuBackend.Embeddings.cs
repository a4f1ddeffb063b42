using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    public Tensor Rotary(Tensor x, Tensor cos, Tensor sin, RotaryPairing pairing = RotaryPairing.Adjacent)
    {
        RequireRank(x, 4, "Rotary", "x");
        int batch = x.Shape[0], seq = x.Shape[1], heads = x.Shape[2], d = x.Shape[3];
        RequireRank(cos, 2, "Rotary", "cos");
        RequireSameShape(cos, sin, "Rotary");
        int pairs = cos.Shape[1];
        // Adjacent pairs (2i, 2i+1); halves pair (i, i + D/2).
        int partnerOffset = pairing == RotaryPairing.Adjacent ? 1 : d / 2;
        int stride = pairing == RotaryPairing.Adjacent ? 2 : 1;
        if (cos.Shape[0] != seq || 2 * pairs > d)
            throw new ArgumentException($"Rotary: table {cos.Shape} does not fit x {x.Shape} (needs [{seq}, ≤{d / 2}]).");
        float[] src = C(x).Data, cd = C(cos).Data, sd = C(sin).Data;
        var y = New(x.Shape);
        float[] dst = y.Data;
        Array.Copy(src, dst, src.Length);
        CpuParallel.For(batch * seq, (long)heads * d, row =>
        {
            int s = row % seq;
            for (int h = 0; h < heads; h++)
            {
                int o = (row * heads + h) * d;
                for (int i = 0; i < pairs; i++)
                {
                    float c = cd[s * pairs + i], sn = sd[s * pairs + i];
                    int ia = o + stride * i, ib = ia + partnerOffset;
                    float a = src[ia], b = src[ib];
                    dst[ia] = a * c - b * sn;
                    dst[ib] = b * c + a * sn;
                }
            }
        });
        return y;
    }

    public Tensor TimestepEmbedding(Tensor t, int dim, bool flipSinToCos, float downscaleFreqShift, float scale = 1f, float maxPeriod = 10000f)
    {
        if (t.Shape.Rank != 1) throw new ArgumentException($"TimestepEmbedding: timesteps {t.Shape} must be 1-D.");
        float[] td = C(t).Data;
        int batch = t.Shape[0], half = dim / 2;
        var y = New(new Shape(batch, dim));
        float[] dst = y.Data;
        // Mirrors torch's float32 arithmetic step by step (exponent, division, exp, product), because the
        // argument of sin/cos reaches 1000 rad, where one ulp of difference is visible in the output.
        float logPeriod = (float)-Math.Log(maxPeriod);
        float denominator = half - downscaleFreqShift;
        for (int b = 0; b < batch; b++)
        {
            for (int j = 0; j < half; j++)
            {
                float exponent = logPeriod * j / denominator;
                float arg = td[b] * MathF.Exp(exponent) * scale;
                float s = (float)Math.Sin(arg), c = (float)Math.Cos(arg);
                int row = b * dim;
                dst[row + (flipSinToCos ? half + j : j)] = s;
                dst[row + (flipSinToCos ? j : half + j)] = c;
            }
        }
        return y;
    }
}
