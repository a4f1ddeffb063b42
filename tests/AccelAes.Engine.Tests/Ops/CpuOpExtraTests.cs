using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Ops;

/// <summary>Ops the text encoders and Lumina need: gathers, score bias, rotate-half RoPE, broadcast products.</summary>
public class CpuOpExtraTests
{
    private readonly CpuBackend _cpu = new();

    private Tensor Rand(int seed, params int[] dims) => _cpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed), new Shape(dims));

    [Fact]
    public void GatherRows_copies_indexed_rows_and_rejects_out_of_range()
    {
        var table = Rand(1, 5, 3);
        float[] td = _cpu.Download(table);
        var ids = _cpu.UploadIndices([4, 0, 0, 2, 3, 1], new Shape(2, 3));
        var y = _cpu.GatherRows(table, ids);
        Assert.Equal(new Shape(2, 3, 3), y.Shape);
        float[] yd = _cpu.Download(y);
        int[] idx = [4, 0, 0, 2, 3, 1];
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 3; j++) Assert.Equal(td[idx[i] * 3 + j], yd[i * 3 + j]);
        Assert.Throws<ArgumentOutOfRangeException>(() => _cpu.GatherRows(table, _cpu.UploadIndices([5], new Shape(1))));
        Assert.Throws<ArgumentException>(() => _cpu.GatherRows(table, table));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Attention_adds_the_score_bias_before_softmax(bool perBatch)
    {
        int batch = 2, sq = 6, sk = 9, heads = 3, d = 8;
        var q = Rand(2, batch, sq, heads, d);
        var k = Rand(3, batch, sk, heads, d);
        var v = Rand(4, batch, sk, heads, d);
        var bias = perBatch ? Rand(5, batch, heads, sq, sk) : Rand(5, heads, sq, sk);
        float[] bd = _cpu.Download(bias);
        float[] got = _cpu.Download(_cpu.Attention(q, k, v, 1f, bias: bias));
        float[] qd = _cpu.Download(q), kd = _cpu.Download(k), vd = _cpu.Download(v);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < sq; i++)
                {
                    var logits = new double[sk];
                    for (int j = 0; j < sk; j++)
                    {
                        double s = bd[(((perBatch ? b : 0) * heads + h) * sq + i) * sk + j];
                        for (int p = 0; p < d; p++) s += (double)qd[((b * sq + i) * heads + h) * d + p] * kd[((b * sk + j) * heads + h) * d + p];
                        logits[j] = s;
                    }
                    double max = logits.Max(), z = logits.Sum(l => Math.Exp(l - max));
                    for (int p = 0; p < d; p++)
                    {
                        double want = 0;
                        for (int j = 0; j < sk; j++) want += Math.Exp(logits[j] - max) / z * vd[((b * sk + j) * heads + h) * d + p];
                        Assert.Equal(want, got[((b * sq + i) * heads + h) * d + p], 1e-5);
                    }
                }
    }

    [Fact]
    public void Rotary_halves_pairs_feature_i_with_i_plus_half()
    {
        int seq = 4, heads = 2, d = 8, pairs = 4;
        var x = Rand(6, 1, seq, heads, d);
        var angles = TestData.Random(seq * pairs, 7, -3f, 3f);
        var cos = _cpu.Upload(angles.Select(MathF.Cos).ToArray(), new Shape(seq, pairs));
        var sin = _cpu.Upload(angles.Select(MathF.Sin).ToArray(), new Shape(seq, pairs));
        float[] xd = _cpu.Download(x);
        float[] got = _cpu.Download(_cpu.Rotary(x, cos, sin, RotaryPairing.Halves));
        for (int s = 0; s < seq; s++)
            for (int h = 0; h < heads; h++)
            {
                int o = (s * heads + h) * d;
                for (int i = 0; i < pairs; i++)
                {
                    // HF: q·cos + rotate_half(q)·sin with rotate_half(q) = [−q₂, q₁].
                    double a = angles[s * pairs + i];
                    Assert.Equal(xd[o + i] * Math.Cos(a) - xd[o + i + 4] * Math.Sin(a), got[o + i], 1e-5);
                    Assert.Equal(xd[o + i + 4] * Math.Cos(a) + xd[o + i] * Math.Sin(a), got[o + i + 4], 1e-5);
                }
            }
    }

    [Fact]
    public void Multiply_broadcasts_a_trailing_shape()
    {
        var a = Rand(8, 2, 3, 4, 5);
        var b = Rand(9, 4, 5);
        float[] ad = _cpu.Download(a), bd = _cpu.Download(b);
        float[] got = _cpu.Download(_cpu.Multiply(a, b));
        for (int i = 0; i < ad.Length; i++) Assert.Equal(ad[i] * bd[i % 20], got[i], 1e-6);
        Assert.Throws<ArgumentException>(() => _cpu.Multiply(a, Rand(10, 3, 5)));
    }
}
