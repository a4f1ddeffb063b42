using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Ops;

/// <summary>
/// Every op of the CPU reference backend against a naive double-precision formula on fresh random data.
/// </summary>
public class CpuOpTests
{
    private readonly CpuBackend _cpu = new();

    private Tensor Rand(int seed, params int[] dims) => _cpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed), new Shape(dims));

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 13, 5)]
    [InlineData(33, 64, 48)]
    public void Linear_matches_naive_with_bias_and_activation(int m, int n, int k)
    {
        var x = Rand(1, 2, m, k);
        var w = Rand(2, n, k);
        var b = Rand(3, n);
        foreach (var act in Enum.GetValues<Activation>())
        {
            float[] got = _cpu.Download(_cpu.Linear(x, w, b, act));
            float[] xd = _cpu.Download(x), wd = _cpu.Download(w), bd = _cpu.Download(b);
            var want = new float[2 * m * n];
            for (int r = 0; r < 2 * m; r++)
                for (int j = 0; j < n; j++)
                {
                    double s = bd[j];
                    for (int p = 0; p < k; p++) s += (double)xd[r * k + p] * wd[j * k + p];
                    want[r * n + j] = (float)Naive.Activate(s, act);
                }
            TestData.AssertClose(want, got, 1e-5, act.ToString());
        }
    }

    [Fact]
    public void Linear_rejects_mismatched_features()
    {
        var ex = Assert.Throws<ArgumentException>(() => _cpu.Linear(Rand(1, 3, 4), Rand(2, 5, 6), null));
        Assert.Contains("4 features", ex.Message);
    }

    [Theory]
    [InlineData(1, 5, 7, 2, 2, 16, 16, false, false)]
    [InlineData(2, 9, 70, 4, 2, 12, 12, true, false)]
    [InlineData(2, 77, 77, 3, 3, 8, 8, false, true)]
    [InlineData(1, 130, 131, 2, 1, 32, 24, true, false)]
    [InlineData(2, 9, 4, 2, 2, 8, 8, false, true)]
    public void Attention_matches_naive(int batch, int sq, int sk, int hq, int hkv, int d, int dv, bool mask, bool causal)
    {
        var q = Rand(4, batch, sq, hq, d);
        var k = Rand(5, batch, sk, hkv, d);
        var v = Rand(6, batch, sk, hkv, dv);
        float[]? maskValues = null;
        Tensor? maskTensor = null;
        if (mask)
        {
            maskValues = new float[batch * sk];
            var rng = new Random(7);
            for (int i = 0; i < maskValues.Length; i++) maskValues[i] = rng.NextDouble() < 0.3 ? 0f : 1f;
            maskValues[0] = 1f;
            maskTensor = _cpu.Upload(maskValues, new Shape(batch, sk));
        }
        float scale = 1f / MathF.Sqrt(d);
        float[] got = _cpu.Download(_cpu.Attention(q, k, v, scale, maskTensor, causal));
        float[] want = Naive.Attention(_cpu.Download(q), _cpu.Download(k), _cpu.Download(v), batch, sq, sk, hq, hkv, d, dv, scale, maskValues, causal);
        TestData.AssertClose(want, got, 2e-5);
    }

    [Fact]
    public void LayerNorm_and_RmsNorm_match_naive()
    {
        var x = Rand(8, 3, 5, 37);
        var w = Rand(9, 37);
        var b = Rand(10, 37);
        float[] xd = _cpu.Download(x), wd = _cpu.Download(w), bd = _cpu.Download(b);
        float[] ln = _cpu.Download(_cpu.LayerNorm(x, 1e-6f, w, b));
        float[] lnPlain = _cpu.Download(_cpu.LayerNorm(x, 1e-6f));
        float[] rms = _cpu.Download(_cpu.RmsNorm(x, 1e-5f, w));
        for (int r = 0; r < 15; r++)
        {
            double mean = 0, sq = 0;
            for (int i = 0; i < 37; i++) { mean += xd[r * 37 + i]; sq += (double)xd[r * 37 + i] * xd[r * 37 + i]; }
            mean /= 37;
            double variance = 0;
            for (int i = 0; i < 37; i++) variance += Math.Pow(xd[r * 37 + i] - mean, 2);
            variance /= 37;
            for (int i = 0; i < 37; i++)
            {
                int o = r * 37 + i;
                double norm = (xd[o] - mean) / Math.Sqrt(variance + 1e-6);
                Assert.Equal(norm * wd[i] + bd[i], ln[o], 1e-5);
                Assert.Equal(norm, lnPlain[o], 1e-5);
                Assert.Equal(xd[o] / Math.Sqrt(sq / 37 + 1e-5) * wd[i], rms[o], 1e-5);
            }
        }
    }

    [Fact]
    public void GroupNorm_matches_naive()
    {
        int batch = 2, channels = 6, groups = 3, h = 5, w = 7;
        var x = Rand(11, batch, channels, h, w);
        var gamma = Rand(12, channels);
        var beta = Rand(13, channels);
        float[] xd = _cpu.Download(x), gd = _cpu.Download(gamma), bd = _cpu.Download(beta);
        float[] got = _cpu.Download(_cpu.GroupNorm(x, groups, 1e-6f, gamma, beta));
        int per = channels / groups, plane = h * w;
        for (int b = 0; b < batch; b++)
            for (int g = 0; g < groups; g++)
            {
                int start = (b * channels + g * per) * plane, count = per * plane;
                double mean = 0, variance = 0;
                for (int i = 0; i < count; i++) mean += xd[start + i];
                mean /= count;
                for (int i = 0; i < count; i++) variance += Math.Pow(xd[start + i] - mean, 2);
                variance /= count;
                for (int i = 0; i < count; i++)
                {
                    int c = g * per + i / plane;
                    double want = (xd[start + i] - mean) / Math.Sqrt(variance + 1e-6) * gd[c] + bd[c];
                    Assert.Equal(want, got[start + i], 1e-5);
                }
            }
    }

    [Fact]
    public void Modulate_and_gated_residual_broadcast_per_batch_item()
    {
        var x = Rand(14, 2, 4, 6);
        var scale = Rand(15, 2, 6);
        var shift = Rand(16, 2, 6);
        var gate = Rand(17, 2, 6);
        float[] xd = _cpu.Download(x), sc = _cpu.Download(scale), sh = _cpu.Download(shift), gd = _cpu.Download(gate);
        float[] mod = _cpu.Download(_cpu.Modulate(x, scale, shift));
        float[] onlyScale = _cpu.Download(_cpu.Modulate(x, scale, null));
        var residual = Rand(18, 2, 4, 6);
        float[] before = _cpu.Download(residual);
        _cpu.AddGatedInPlace(residual, x, gate);
        float[] after = _cpu.Download(residual);
        for (int b = 0; b < 2; b++)
            for (int s = 0; s < 4; s++)
                for (int i = 0; i < 6; i++)
                {
                    int o = (b * 4 + s) * 6 + i, p = b * 6 + i;
                    Assert.Equal(xd[o] * (1 + sc[p]) + sh[p], mod[o], 1e-6);
                    Assert.Equal(xd[o] * (1 + sc[p]), onlyScale[o], 1e-6);
                    Assert.Equal(before[o] + gd[p] * xd[o], after[o], 1e-6);
                }
    }

    [Fact]
    public void Pointwise_ops_match_naive()
    {
        var a = Rand(19, 3, 4, 5);
        var b = Rand(20, 4, 5);
        var c = Rand(21, 3, 4, 5);
        float[] ad = _cpu.Download(a), bd = _cpu.Download(b), cd = _cpu.Download(c);
        float[] sum = _cpu.Download(_cpu.Add(a, b));
        float[] prod = _cpu.Download(_cpu.Multiply(a, c));
        float[] scaled = _cpu.Download(_cpu.Scale(a, -2.5f));
        float[] soft = _cpu.Download(_cpu.Softmax(a));
        for (int i = 0; i < 60; i++)
        {
            Assert.Equal(ad[i] + bd[i % 20], sum[i], 1e-6);
            Assert.Equal(ad[i] * cd[i], prod[i], 1e-6);
            Assert.Equal(ad[i] * -2.5, scaled[i], 1e-6);
        }
        for (int r = 0; r < 12; r++)
        {
            double z = 0;
            for (int i = 0; i < 5; i++) z += Math.Exp(ad[r * 5 + i]);
            for (int i = 0; i < 5; i++) Assert.Equal(Math.Exp(ad[r * 5 + i]) / z, soft[r * 5 + i], 1e-6);
        }
        foreach (var act in Enum.GetValues<Activation>())
        {
            float[] got = _cpu.Download(_cpu.Activate(a, act));
            for (int i = 0; i < 60; i++) Assert.Equal(Naive.Activate(ad[i], act), got[i], 1e-6);
        }
    }

    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(0.5, 0.52049987781304654)]
    [InlineData(-1.0, -0.84270079294971487)]
    [InlineData(2.0, 0.99532226501895273)]
    [InlineData(3.0, 0.99997790950300136)]
    [InlineData(-4.5, -0.99999999980338394)]
    public void Erf_matches_reference_values(double x, double want)
        => Assert.Equal(want, CpuBackend.Erf(x), 1e-14);

    [Fact]
    public void Rotary_rotates_adjacent_pairs_and_passes_the_rest()
    {
        int batch = 2, seq = 3, heads = 2, d = 10, pairs = 4;
        var x = Rand(22, batch, seq, heads, d);
        var angles = TestData.Random(seq * pairs, 23, -3f, 3f);
        var cos = _cpu.Upload(angles.Select(MathF.Cos).ToArray(), new Shape(seq, pairs));
        var sin = _cpu.Upload(angles.Select(MathF.Sin).ToArray(), new Shape(seq, pairs));
        float[] xd = _cpu.Download(x);
        float[] got = _cpu.Download(_cpu.Rotary(x, cos, sin));
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < seq; s++)
                for (int h = 0; h < heads; h++)
                {
                    int o = ((b * seq + s) * heads + h) * d;
                    for (int i = 0; i < pairs; i++)
                    {
                        double a = angles[s * pairs + i];
                        Assert.Equal(xd[o + 2 * i] * Math.Cos(a) - xd[o + 2 * i + 1] * Math.Sin(a), got[o + 2 * i], 1e-5);
                        Assert.Equal(xd[o + 2 * i + 1] * Math.Cos(a) + xd[o + 2 * i] * Math.Sin(a), got[o + 2 * i + 1], 1e-5);
                    }
                    for (int i = 2 * pairs; i < d; i++) Assert.Equal(xd[o + i], got[o + i]);
                }
    }

    [Fact]
    public void TimestepEmbedding_matches_the_diffusers_formula()
    {
        var t = _cpu.Upload([999f, 3.7f, 0f], new Shape(3));
        float[] flipped = _cpu.Download(_cpu.TimestepEmbedding(t, 8, flipSinToCos: true, downscaleFreqShift: 0));
        float[] plain = _cpu.Download(_cpu.TimestepEmbedding(t, 8, flipSinToCos: false, downscaleFreqShift: 1));
        float[] ts = [999f, 3.7f, 0f];
        for (int b = 0; b < 3; b++)
            for (int j = 0; j < 4; j++)
            {
                double f0 = Math.Exp(-Math.Log(10000) * j / 4.0), f1 = Math.Exp(-Math.Log(10000) * j / 3.0);
                Assert.Equal(Math.Cos(ts[b] * f0), flipped[b * 8 + j], 2e-4);
                Assert.Equal(Math.Sin(ts[b] * f0), flipped[b * 8 + 4 + j], 2e-4);
                Assert.Equal(Math.Sin(ts[b] * f1), plain[b * 8 + j], 2e-4);
                Assert.Equal(Math.Cos(ts[b] * f1), plain[b * 8 + 4 + j], 2e-4);
            }
    }

    [Fact]
    public void Concat_Slice_and_Transpose_round_trip()
    {
        var a = Rand(24, 2, 3, 4);
        var b = Rand(25, 2, 5, 4);
        var joined = _cpu.Concat(1, a, b);
        Assert.Equal(new Shape(2, 8, 4), joined.Shape);
        Assert.Equal(_cpu.Download(a), _cpu.Download(_cpu.Slice(joined, 1, 0, 3)));
        Assert.Equal(_cpu.Download(b), _cpu.Download(_cpu.Slice(joined, 1, 3, 5)));
        float[] jd = _cpu.Download(joined), bd = _cpu.Download(b);
        Assert.Equal(bd[1 * 20 + 2 * 4 + 3], jd[1 * 32 + (3 + 2) * 4 + 3]);
        var lastAxis = _cpu.Slice(a, -1, 1, 2);
        float[] ad = _cpu.Download(a), ld = _cpu.Download(lastAxis);
        for (int r = 0; r < 6; r++) { Assert.Equal(ad[r * 4 + 1], ld[r * 2]); Assert.Equal(ad[r * 4 + 2], ld[r * 2 + 1]); }
        var t = _cpu.TransposeLast2(a);
        Assert.Equal(new Shape(2, 4, 3), t.Shape);
        float[] td = _cpu.Download(t);
        for (int bb = 0; bb < 2; bb++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 4; j++) Assert.Equal(ad[bb * 12 + i * 4 + j], td[bb * 12 + j * 3 + i]);
        Assert.Equal(ad, _cpu.Download(_cpu.TransposeLast2(t)));
    }

    [Theory]
    [InlineData(PatchLayout.ChannelMajor)]
    [InlineData(PatchLayout.ChannelMinor)]
    public void Patchify_orders_features_and_Unpatchify_inverts_it(PatchLayout layout)
    {
        int batch = 2, channels = 3, h = 4, w = 6, p = 2;
        var x = Rand(26, batch, channels, h, w);
        float[] xd = _cpu.Download(x);
        var tokens = _cpu.Patchify(x, p, layout);
        Assert.Equal(new Shape(batch, 6, 12), tokens.Shape);
        float[] td = _cpu.Download(tokens);
        // token (row 1, col 2) of batch 1, channel 2, inside-patch (1, 0)
        int token = 1 * 3 + 2, feature = layout == PatchLayout.ChannelMajor ? (2 * p + 1) * p + 0 : (1 * p + 0) * channels + 2;
        Assert.Equal(xd[((1 * channels + 2) * h + 1 * p + 1) * w + 2 * p + 0], td[(1 * 6 + token) * 12 + feature]);
        Assert.Equal(xd, _cpu.Download(_cpu.Unpatchify(tokens, channels, h, w, p, layout)));
    }

    [Theory]
    [InlineData(1, 3, 1)]
    [InlineData(2, 3, 1)]
    [InlineData(1, 1, 0)]
    [InlineData(2, 2, 0)]
    public void Conv2d_matches_naive(int stride, int kernel, int padding)
    {
        int batch = 2, cin = 3, cout = 4, h = 7, w = 9;
        var x = Rand(27, batch, cin, h, w);
        var wt = Rand(28, cout, cin, kernel, kernel);
        var bias = Rand(29, cout);
        float[] got = _cpu.Download(_cpu.Conv2d(x, wt, bias, stride, padding));
        float[] xd = _cpu.Download(x), wd = _cpu.Download(wt), bd = _cpu.Download(bias);
        int ho = (h + 2 * padding - kernel) / stride + 1, wo = (w + 2 * padding - kernel) / stride + 1;
        Assert.Equal(batch * cout * ho * wo, got.Length);
        for (int b = 0; b < batch; b++)
            for (int co = 0; co < cout; co++)
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++)
                    {
                        double s = bd[co];
                        for (int ci = 0; ci < cin; ci++)
                            for (int ky = 0; ky < kernel; ky++)
                                for (int kx = 0; kx < kernel; kx++)
                                {
                                    int iy = oy * stride - padding + ky, ix = ox * stride - padding + kx;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                    s += (double)xd[((b * cin + ci) * h + iy) * w + ix] * wd[((co * cin + ci) * kernel + ky) * kernel + kx];
                                }
                        Assert.Equal(s, got[((b * cout + co) * ho + oy) * wo + ox], 1e-5);
                    }
    }

    [Fact]
    public void Conv2d_tiled_over_output_rows_equals_one_tile()
    {
        var x = Rand(40, 2, 3, 13, 11);
        var w = Rand(41, 5, 3, 3, 3);
        var b = Rand(42, 5);
        float[] whole = _cpu.Download(_cpu.Conv2d(x, w, b, 1, 1, columnBudget: int.MaxValue));
        foreach (int budget in new[] { 1, 27 * 11 * 2, 27 * 11 * 5 })
            Assert.Equal(whole, _cpu.Download(_cpu.Conv2d(x, w, b, 1, 1, budget)));
        float[] strided = _cpu.Download(_cpu.Conv2d(x, w, b, 2, 1, columnBudget: int.MaxValue));
        Assert.Equal(strided, _cpu.Download(_cpu.Conv2d(x, w, b, 2, 1, 27 * 6)));
    }

    [Fact]
    public void UpsampleNearest2x_repeats_each_pixel()
    {
        var x = Rand(30, 2, 3, 4, 5);
        float[] xd = _cpu.Download(x);
        float[] got = _cpu.Download(_cpu.UpsampleNearest2x(x));
        for (int p = 0; p < 6; p++)
            for (int y = 0; y < 8; y++)
                for (int xx = 0; xx < 10; xx++)
                    Assert.Equal(xd[(p * 4 + y / 2) * 5 + xx / 2], got[(p * 8 + y) * 10 + xx]);
    }

    [Fact]
    public void Guidance_and_Euler_step_match_the_pipeline_formulas()
    {
        var u = Rand(31, 2, 8);
        var c = Rand(32, 2, 8);
        var latents = Rand(33, 2, 8);
        float[] ud = _cpu.Download(u), cd = _cpu.Download(c), ld = _cpu.Download(latents);
        var v = _cpu.GuidanceCombine(u, c, 7f);
        float[] vd = _cpu.Download(v);
        _cpu.EulerStepInPlace(latents, v, -0.125f);
        float[] after = _cpu.Download(latents);
        for (int i = 0; i < 16; i++)
        {
            Assert.Equal(ud[i] + 7.0 * (cd[i] - ud[i]), vd[i], 1e-5);
            Assert.Equal(ld[i] - 0.125 * vd[i], after[i], 1e-6);
        }
    }
}
