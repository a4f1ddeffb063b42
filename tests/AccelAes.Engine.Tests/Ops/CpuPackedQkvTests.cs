using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Ops;

/// <summary>Fusion 7's ops on the CPU reference (issue 16): LinearIntoRows and AttentionPacked against hand-computed values.</summary>
public class CpuPackedQkvTests
{
    private readonly CpuBackend _cpu = new();

    private Tensor Rand(int seed, params int[] dims) => _cpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed, -2f, 2f), new Shape(dims));

    [Fact]
    public void LinearIntoRows_writes_each_batch_items_rows_at_the_offset_and_leaves_the_other_rows()
    {
        int batch = 2, seq = 6, offset = 3, rows = 2, k = 5, n = 4;
        var dst = Rand(1, batch, seq, n);
        var x = Rand(2, batch, rows, k);
        var w = Rand(3, n, k);
        var b = Rand(4, n);
        float[] before = _cpu.Download(dst), xs = _cpu.Download(x), ws = _cpu.Download(w), bs = _cpu.Download(b);
        _cpu.LinearIntoRows(dst, offset, x, w, b);
        float[] after = _cpu.Download(dst);
        for (int bi = 0; bi < batch; bi++)
            for (int s = 0; s < seq; s++)
                for (int j = 0; j < n; j++)
                {
                    int at = (bi * seq + s) * n + j;
                    if (s < offset || s >= offset + rows)
                    {
                        Assert.Equal(before[at], after[at]);
                        continue;
                    }
                    double y = bs[j];
                    for (int p = 0; p < k; p++) y += (double)xs[(bi * rows + s - offset) * k + p] * ws[j * k + p];
                    Assert.True(Math.Abs(after[at] - y) <= 1e-5 * Math.Max(1, Math.Abs(y)), $"b {bi} row {s} col {j}: {after[at]}, expected {y}");
                }
    }

    [Fact]
    public void LinearIntoRows_rejects_rows_past_the_end_and_a_width_that_is_not_the_weights()
    {
        var dst = Rand(1, 1, 4, 3);
        Assert.Contains("rows [2, 5)", Assert.Throws<ArgumentException>(() => _cpu.LinearIntoRows(dst, 2, Rand(2, 1, 3, 8), Rand(3, 3, 8), null)).Message);
        Assert.Contains("whole rows", Assert.Throws<ArgumentException>(() => _cpu.LinearIntoRows(dst, 0, Rand(2, 1, 3, 8), Rand(3, 5, 8), null)).Message);
    }

    /// <summary>
    /// Grouped heads (H 2, Hkv 1, hd 2), 3 tokens: q, k and v read from their columns of the packed rows, every output
    /// element by the textbook softmax in double precision.
    /// </summary>
    [Fact]
    public void AttentionPacked_reads_q_k_v_from_their_columns_of_the_packed_rows()
    {
        int batch = 2, seq = 3, heads = 2, kvHeads = 1, hd = 2, width = (heads + 2 * kvHeads) * hd;
        var buffer = Rand(5, batch, seq, width);
        float scale = 0.7f;
        var o = _cpu.AttentionPacked(new PackedQkv(buffer, heads, kvHeads, hd), scale);
        Assert.Equal(new Shape(batch, seq, heads, hd), o.Shape);
        float[] x = _cpu.Download(buffer), y = _cpu.Download(o);
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < seq; i++)
                for (int h = 0; h < heads; h++)
                {
                    double Q(int c) => x[(b * seq + i) * width + h * hd + c];
                    double K(int j, int c) => x[(b * seq + j) * width + heads * hd + c];         // the one key head
                    double V(int j, int c) => x[(b * seq + j) * width + (heads + kvHeads) * hd + c];
                    var s = Enumerable.Range(0, seq).Select(j => scale * Enumerable.Range(0, hd).Sum(c => Q(c) * K(j, c))).ToArray();
                    double m = s.Max(), z = s.Sum(v => Math.Exp(v - m));
                    for (int c = 0; c < hd; c++)
                    {
                        double expected = Enumerable.Range(0, seq).Sum(j => Math.Exp(s[j] - m) / z * V(j, c));
                        float actual = y[((b * seq + i) * heads + h) * hd + c];
                        Assert.True(Math.Abs(actual - expected) <= 1e-5, $"b {b} i {i} h {h} c {c}: {actual}, expected {expected}");
                    }
                }
    }

    [Fact]
    public void AttentionPacked_rejects_a_buffer_that_is_not_the_head_layout()
    {
        var buffer = Rand(1, 1, 4, 40);
        Assert.Contains("(H + 2·Hkv)·hd", Assert.Throws<ArgumentException>(() => _cpu.AttentionPacked(new PackedQkv(buffer, 2, 2, 8), 1f)).Message);
        Assert.Contains("not a head layout", Assert.Throws<ArgumentException>(() => _cpu.AttentionPacked(new PackedQkv(buffer, 3, 2, 5), 1f)).Message);
    }

    /// <summary>
    /// Two parts (text 2 rows, image 3 rows) of a packed buffer, each with its own norms (the image part without a k norm),
    /// RoPE over the joint sequence: every q and k element by hand (RMSNorm per head, then the adjacent-pair rotation), every
    /// v element untouched.
    /// </summary>
    [Fact]
    public void PrepareAttentionInputsInPlace_normalises_each_parts_rows_rotates_q_and_k_and_leaves_v()
    {
        int batch = 2, heads = 2, kvHeads = 1, hd = 4, pairs = 2, seq = 5, width = (heads + 2 * kvHeads) * hd;
        int[] tokens = [2, 3];
        const float eps = 1e-6f;
        var buffer = Rand(1, batch, seq, width);
        float[] before = _cpu.Download(buffer);
        var norms = new[] { (Rand(2, hd), (Tensor?)Rand(3, hd)), (Rand(4, hd), (Tensor?)null) };
        var cos = Rand(5, seq, pairs);
        var sin = Rand(6, seq, pairs);
        _cpu.PrepareAttentionInputsInPlace(new PackedQkv(buffer, heads, kvHeads, hd),
            [new QkvPartNorms(tokens[0], norms[0].Item1, norms[0].Item2), new QkvPartNorms(tokens[1], norms[1].Item1, norms[1].Item2)], eps, cos, sin);
        float[] after = _cpu.Download(buffer), c = _cpu.Download(cos), s = _cpu.Download(sin);
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < seq; t++)
            {
                int p = t < tokens[0] ? 0 : 1;
                float[]? nq = _cpu.Download(norms[p].Item1), nk = norms[p].Item2 is { } w ? _cpu.Download(w) : null;
                for (int slot = 0; slot < heads + 2 * kvHeads; slot++)
                {
                    int at = (b * seq + t) * width + slot * hd;
                    double[] row = Enumerable.Range(0, hd).Select(i => (double)before[at + i]).ToArray();
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
                    for (int i = 0; i < hd; i++)
                        Assert.True(Math.Abs(after[at + i] - row[i]) <= 1e-4 * Math.Max(1, Math.Abs(row[i])),
                            $"b {b} token {t} slot {slot} feature {i}: {after[at + i]}, expected {row[i]}");
                }
            }
    }

    [Fact]
    public void PrepareAttentionInputsInPlace_rejects_parts_that_do_not_make_the_sequence()
    {
        var buffer = Rand(1, 1, 5, 48);
        Assert.Contains("do not make the buffer's 5", Assert.Throws<ArgumentException>(() =>
            _cpu.PrepareAttentionInputsInPlace(new PackedQkv(buffer, 2, 2, 8), [new QkvPartNorms(3)], 1e-6f)).Message);
    }

    [Fact]
    public void AttentionPackedInto_writes_the_packed_attention_into_the_column_slice_only()
    {
        var buffer = Rand(7, 1, 4, 12);
        var dst = Rand(8, 1, 4, 7);
        float[] before = _cpu.Download(dst);
        var packed = new PackedQkv(buffer, 1, 1, 4);
        _cpu.AttentionPackedInto(dst, 2, packed, 0.5f);
        float[] after = _cpu.Download(dst), expected = _cpu.Download(_cpu.AttentionPacked(packed, 0.5f));
        for (int r = 0; r < 4; r++)
            for (int col = 0; col < 7; col++)
                Assert.Equal(col is >= 2 and < 6 ? expected[r * 4 + col - 2] : before[r * 7 + col], after[r * 7 + col]);
    }
}
