using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Ops;

/// <summary>PrepareAttentionInputs' CPU reference (issue 16, QKV path) against the textbook formulas, in double precision.</summary>
public class CpuAttentionInputsTests
{
    private readonly CpuBackend _cpu = new();

    private Tensor Rand(int seed, params int[] dims) => _cpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed, -3f, 3f), new Shape(dims));

    /// <summary>
    /// Two parts (text then image, as FLUX), grouped heads (H 4, Hkv 2), each part with its own q/k norm weights (the image
    /// part without a k norm), RoPE over the joint sequence on the first 3 of 4 pairs: every output element by hand.
    /// </summary>
    [Fact]
    public void It_splits_heads_normalises_per_part_joins_the_parts_and_rotates_q_and_k_over_the_joint_sequence()
    {
        int batch = 2, heads = 4, kvHeads = 2, hd = 8, pairs = 3;
        int[] tokens = [2, 3];
        int seq = tokens.Sum(), slots = heads + 2 * kvHeads, width = slots * hd;
        const float eps = 1e-6f;
        var parts = new[] { Rand(1, batch, tokens[0], width), Rand(2, batch, tokens[1], width) };
        var norms = new[] { (Rand(3, hd), (Tensor?)Rand(4, hd)), (Rand(5, hd), (Tensor?)null) };
        var cos = Rand(6, seq, pairs);
        var sin = Rand(7, seq, pairs);
        var r = _cpu.PrepareAttentionInputs([new QkvPart(parts[0], norms[0].Item1, norms[0].Item2), new QkvPart(parts[1], norms[1].Item1, norms[1].Item2)],
            heads, kvHeads, hd, eps, cos, sin);
        Assert.Equal((new Shape(batch, seq, heads, hd), new Shape(batch, seq, kvHeads, hd), new Shape(batch, seq, kvHeads, hd)), (r.Q.Shape, r.K.Shape, r.V.Shape));
        float[][] xs = [_cpu.Download(parts[0]), _cpu.Download(parts[1])];
        float[] c = _cpu.Download(cos), s = _cpu.Download(sin);
        float[] q = _cpu.Download(r.Q), k = _cpu.Download(r.K), v = _cpu.Download(r.V);
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < seq; t++)
            {
                int p = t < tokens[0] ? 0 : 1, local = p == 0 ? t : t - tokens[0];
                float[]? nq = _cpu.Download(norms[p].Item1), nk = norms[p].Item2 is { } w ? _cpu.Download(w) : null;
                for (int slot = 0; slot < slots; slot++)
                {
                    int src = ((b * tokens[p] + local) * slots + slot) * hd;
                    double[] row = Enumerable.Range(0, hd).Select(i => (double)xs[p][src + i]).ToArray();
                    bool isQ = slot < heads, isK = !isQ && slot < heads + kvHeads;
                    float[]? norm = isQ ? nq : isK ? nk : null;
                    if (norm is not null)
                    {
                        double rms = Math.Sqrt(row.Sum(x => x * x) / hd + eps);
                        for (int i = 0; i < hd; i++) row[i] = row[i] / rms * norm[i];
                    }
                    if (isQ || isK)
                        for (int i = 0; i < pairs; i++)
                        {
                            double a = row[2 * i], bb = row[2 * i + 1], cc = c[t * pairs + i], ss = s[t * pairs + i];
                            (row[2 * i], row[2 * i + 1]) = (a * cc - bb * ss, bb * cc + a * ss);
                        }
                    var (dst, head, count) = isQ ? (q, slot, heads) : isK ? (k, slot - heads, kvHeads) : (v, slot - heads - kvHeads, kvHeads);
                    int at = ((b * seq + t) * count + head) * hd;
                    for (int i = 0; i < hd; i++)
                        Assert.True(Math.Abs(dst[at + i] - row[i]) <= 1e-4 * Math.Max(1, Math.Abs(row[i])),
                            $"b {b} token {t} slot {slot} feature {i}: {dst[at + i]}, expected {row[i]}");
                }
            }
    }

    /// <summary>Lumina's qk-norm: q's and k's whole projected widths LayerNormed (weight, bias, biased variance) before the head split, then rotated.</summary>
    [Fact]
    public void LayerNorm_across_heads_normalises_the_whole_width_before_the_split()
    {
        int heads = 2, kvHeads = 1, hd = 4, seq = 3, qw = heads * hd, width = (heads + 2 * kvHeads) * hd;
        const float eps = 1e-5f;
        var part = Rand(1, 1, seq, width);
        Tensor wq = Rand(2, qw), bq = Rand(3, qw), wk = Rand(4, kvHeads * hd), bk = Rand(5, kvHeads * hd);
        var cos = Rand(6, seq, 2);
        var sin = Rand(7, seq, 2);
        var r = _cpu.PrepareAttentionInputs([new QkvPart(part, wq, wk, bq, bk)], heads, kvHeads, hd, eps, cos, sin, QkNorm.LayerNormAcrossHeads);
        float[] x = _cpu.Download(part), c = _cpu.Download(cos), s = _cpu.Download(sin);
        foreach (var (output, offset, count, w, b) in new[] { (r.Q, 0, qw, wq, bq), (r.K, qw, kvHeads * hd, wk, bk) })
        {
            float[] got = _cpu.Download(output), ws = _cpu.Download(w), bs = _cpu.Download(b);
            for (int t = 0; t < seq; t++)
            {
                double[] row = Enumerable.Range(0, count).Select(i => (double)x[t * width + offset + i]).ToArray();
                double mean = row.Average(), variance = row.Select(v => (v - mean) * (v - mean)).Average();
                for (int i = 0; i < count; i++) row[i] = (row[i] - mean) / Math.Sqrt(variance + eps) * ws[i] + bs[i];
                for (int h = 0; h < count / hd; h++)
                    for (int p = 0; p < 2; p++)
                    {
                        int at = h * hd + 2 * p;
                        double a = row[at], bb = row[at + 1], cc = c[t * 2 + p], ss = s[t * 2 + p];
                        (row[at], row[at + 1]) = (a * cc - bb * ss, bb * cc + a * ss);
                    }
                for (int i = 0; i < count; i++)
                    Assert.True(Math.Abs(got[t * count + i] - row[i]) <= 1e-4 * Math.Max(1, Math.Abs(row[i])), $"token {t} feature {i}: {got[t * count + i]}, expected {row[i]}");
            }
        }
    }

    [Fact]
    public void Without_norms_and_tables_q_k_and_v_are_exact_copies_of_the_column_slices()
    {
        var part = Rand(1, 1, 3, 3 * 16);
        var r = _cpu.PrepareAttentionInputs([new QkvPart(part)], 2, 2, 8, 1e-6f);
        float[] x = _cpu.Download(part);
        float[][] outs = [_cpu.Download(r.Q), _cpu.Download(r.K), _cpu.Download(r.V)];
        for (int t = 0; t < 3; t++)
            for (int which = 0; which < 3; which++)
                for (int i = 0; i < 16; i++)
                    Assert.Equal(x[t * 48 + which * 16 + i], outs[which][t * 16 + i]);
    }

    [Fact]
    public void LinearOfRows_is_the_linear_of_those_rows_of_every_batch_item()
    {
        var x = Rand(1, 2, 5, 3);
        var w = Rand(2, 4, 3);
        var b = Rand(3, 4);
        float[] xs = _cpu.Download(x), ws = _cpu.Download(w), bs = _cpu.Download(b);
        float[] y = _cpu.Download(_cpu.LinearOfRows(x, 1, 3, w, b));
        Assert.Equal(2 * 3 * 4, y.Length);
        for (int batch = 0; batch < 2; batch++)
            for (int r = 0; r < 3; r++)
                for (int o = 0; o < 4; o++)
                {
                    double expected = bs[o];
                    for (int i = 0; i < 3; i++) expected += xs[(batch * 5 + 1 + r) * 3 + i] * ws[o * 3 + i];
                    Assert.Equal(expected, y[(batch * 3 + r) * 4 + o], 4);
                }
        var e = Assert.Throws<ArgumentException>(() => _cpu.LinearOfRows(x, 3, 3, w, b));
        Assert.Contains("LinearOfRows: rows [3, 6) do not fit the 5 rows of input [2, 5, 3]", e.Message);
    }

    [Fact]
    public void Shapes_that_do_not_fit_name_the_op_and_the_mismatch()
    {
        var part = Rand(1, 1, 3, 40);
        var e = Assert.Throws<ArgumentException>(() => _cpu.PrepareAttentionInputs([new QkvPart(part)], 2, 2, 8, 1e-6f));
        Assert.Contains("PrepareAttentionInputs: part [1, 3, 40] is not [1, n, 48]", e.Message);
        var ok = Rand(2, 1, 3, 48);
        e = Assert.Throws<ArgumentException>(() => _cpu.PrepareAttentionInputs([new QkvPart(ok)], 2, 2, 8, 1e-6f, Rand(3, 3, 5), Rand(4, 3, 5)));
        Assert.Contains("rotary tables", e.Message);
    }
}
