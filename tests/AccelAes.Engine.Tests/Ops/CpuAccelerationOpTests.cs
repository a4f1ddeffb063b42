using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Ops;

/// <summary>The AccelAes ops of the CPU backend against naive formulas.</summary>
public class CpuAccelerationOpTests
{
    private readonly CpuBackend _cpu = new();

    private Tensor Rand(int seed, params int[] dims) => _cpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed), new Shape(dims));

    [Fact]
    public void ScatterRows_writes_only_the_indexed_rows()
    {
        var dst = Rand(1, 6, 4);
        float[] before = _cpu.Download(dst);
        var src = Rand(2, 3, 4);
        float[] sd = _cpu.Download(src);
        _cpu.ScatterRowsInPlace(dst, _cpu.UploadIndices([5, 0, 3], new Shape(3)), src);
        float[] after = _cpu.Download(dst);
        int[] target = [5, 0, 3];
        for (int r = 0; r < 6; r++)
            for (int j = 0; j < 4; j++)
            {
                int i = Array.IndexOf(target, r);
                Assert.Equal(i >= 0 ? sd[i * 4 + j] : before[r * 4 + j], after[r * 4 + j]);
            }
        Assert.Throws<ArgumentOutOfRangeException>(() => _cpu.ScatterRowsInPlace(dst, _cpu.UploadIndices([6], new Shape(1)), Rand(3, 1, 4)));
    }

    [Fact]
    public void Copy_is_independent_of_its_source()
    {
        var a = Rand(4, 3, 5);
        var b = _cpu.Copy(a);
        Assert.Equal(_cpu.Download(a), _cpu.Download(b));
        _cpu.AddGatedInPlace(a.Reshape(1, 3, 5), Rand(5, 1, 3, 5), null);
        Assert.NotEqual(_cpu.Download(a), _cpu.Download(b));
    }

    [Fact]
    public void Spatial_guidance_broadcasts_the_map_over_batch_and_channels()
    {
        var u = Rand(6, 2, 3, 4, 5);
        var c = Rand(7, 2, 3, 4, 5);
        var s = Rand(8, 4, 5);
        float[] ud = _cpu.Download(u), cd = _cpu.Download(c), sd = _cpu.Download(s);
        float[] got = _cpu.Download(_cpu.GuidanceCombine(u, c, s));
        for (int i = 0; i < got.Length; i++)
            Assert.Equal(ud[i] + sd[i % 20] * (cd[i] - ud[i]), got[i], 1e-6);
        // a uniform map equals the scalar form
        var uniform = _cpu.Upload(Enumerable.Repeat(4f, 20).ToArray(), new Shape(4, 5));
        TestData.AssertClose(_cpu.Download(_cpu.GuidanceCombine(u, c, 4f)), _cpu.Download(_cpu.GuidanceCombine(u, c, uniform)), 1e-6);
    }

    [Fact]
    public void Extrapolate_is_linear_in_the_coefficient()
    {
        var a = Rand(9, 10);
        var b = Rand(10, 10);
        float[] ad = _cpu.Download(a), bd = _cpu.Download(b);
        float[] got = _cpu.Download(_cpu.Extrapolate(a, b, 0.75f));
        for (int i = 0; i < 10; i++) Assert.Equal(ad[i] + 0.75 * (ad[i] - bd[i]), got[i], 1e-6);
    }

    [Fact]
    public void AbsDifferenceSums_gives_the_L1_norms_of_the_difference_and_of_the_second_input()
    {
        var a = _cpu.Upload([1f, -2f, 3.5f, 0f], new Shape(2, 2));
        var b = _cpu.Upload([0.5f, 1f, -1f, -0.25f], new Shape(2, 2));
        var sums = _cpu.AbsDifferenceSums(a, b);
        Assert.Equal(new Shape(2), sums.Shape);
        // |1 − 0.5| + |−2 − 1| + |3.5 + 1| + |0 + 0.25| = 8.25; |0.5| + |1| + |−1| + |−0.25| = 2.75.
        Assert.Equal([8.25f, 2.75f], _cpu.Download(sums));
        Assert.Throws<ArgumentException>(() => _cpu.AbsDifferenceSums(a, _cpu.Upload(new float[4], new Shape(4))));
    }

    [Fact]
    public void AbsDifferenceSums_accumulates_beyond_float32()
    {
        // 2²⁴ followed by a thousand ones: a float32 running sum stays at 2²⁴ (each +1 rounds away), the fp64 sum
        // is 2²⁴ + 1000, which float32 represents exactly.
        float[] values = new float[1001];
        Array.Fill(values, 1f);
        values[0] = 16_777_216f;
        var b = _cpu.Upload(values, new Shape(1001));
        float[] sums = _cpu.Download(_cpu.AbsDifferenceSums(_cpu.Zeros(new Shape(1001)), b));
        Assert.Equal([16_778_216f, 16_778_216f], sums);
    }

    [Fact]
    public void Attention_with_affinity_returns_the_weighted_probability_sums()
    {
        int batch = 2, sq = 7, sk = 9, hq = 4, hkv = 2, d = 8;
        var q = Rand(11, batch, sq, hq, d);
        var k = Rand(12, batch, sk, hkv, d);
        var v = Rand(13, batch, sk, hkv, d);
        float[] w = TestData.Random(batch * sk, 14, 0f, 1f);
        float[] mask = Enumerable.Range(0, batch * sk).Select(i => i % 5 == 4 ? 0f : 1f).ToArray();
        var (o, affinity) = _cpu.AttentionWithAffinity(q, k, v, 0.3f, _cpu.Upload(w, new Shape(batch, sk)), _cpu.Upload(mask, new Shape(batch, sk)));
        TestData.AssertClose(_cpu.Download(_cpu.Attention(q, k, v, 0.3f, _cpu.Upload(mask, new Shape(batch, sk)))), _cpu.Download(o), 0);
        Assert.Equal(new Shape(batch, hq, sq), affinity.Shape);
        float[] qd = _cpu.Download(q), kd = _cpu.Download(k), got = _cpu.Download(affinity);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < hq; h++)
                for (int i = 0; i < sq; i++)
                {
                    var logits = new double[sk];
                    for (int j = 0; j < sk; j++)
                    {
                        double s = 0;
                        for (int p = 0; p < d; p++) s += (double)qd[((b * sq + i) * hq + h) * d + p] * kd[((b * sk + j) * hkv + h / 2) * d + p];
                        logits[j] = mask[b * sk + j] == 0 ? double.NegativeInfinity : s * 0.3;
                    }
                    double max = logits.Max(), z = logits.Sum(l => Math.Exp(l - max)), want = 0;
                    for (int j = 0; j < sk; j++) want += Math.Exp(logits[j] - max) / z * w[b * sk + j];
                    Assert.Equal(want, got[(b * hq + h) * sq + i], 1e-5);
                }
    }
}
