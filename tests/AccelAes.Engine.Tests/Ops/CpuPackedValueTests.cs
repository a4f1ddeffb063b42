using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Diagnostics;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Ops;

/// <summary>
/// Fusion 13's ops on the CPU reference (issue 16: Lumina's self-attention reads v where the fused Q/K/V GEMM wrote it):
/// PrepareQueryKey against PrepareAttentionInputs, AttentionPackedValue against a hand-computed softmax, the checks, and the
/// op harness's cases.
/// </summary>
public class CpuPackedValueTests
{
    private readonly CpuBackend _cpu = new();

    private Tensor Rand(int seed, params int[] dims) => _cpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed, -2f, 2f), new Shape(dims));

    /// <summary>Lumina's layout (GQA, LayerNorm across heads with biases, RoPE): q and k are PrepareAttentionInputs' own; v is not copied.</summary>
    [Fact]
    public void PrepareQueryKey_gives_prepare_attention_inputs_q_and_k_and_hands_back_the_buffer_for_v()
    {
        int batch = 2, seq = 5, heads = 4, kvHeads = 2, hd = 8, pairs = 3;
        var buffer = Rand(1, batch, seq, (heads + 2 * kvHeads) * hd);
        var part = new QkvPart(buffer, Rand(2, heads * hd), Rand(3, kvHeads * hd), Rand(4, heads * hd), Rand(5, kvHeads * hd));
        var cos = Rand(6, seq, pairs);
        var sin = Rand(7, seq, pairs);
        var expected = _cpu.PrepareAttentionInputs([part], heads, kvHeads, hd, 1e-5f, cos, sin, QkNorm.LayerNormAcrossHeads);
        var r = _cpu.PrepareQueryKey(part, heads, kvHeads, hd, 1e-5f, cos, sin, QkNorm.LayerNormAcrossHeads);
        Assert.Equal(_cpu.Download(expected.Q), _cpu.Download(r.Q));
        Assert.Equal(_cpu.Download(expected.K), _cpu.Download(r.K));
        Assert.Same(buffer, r.Packed.Buffer);
        Assert.Equal((heads, kvHeads, hd), (r.Packed.Heads, r.Packed.KvHeads, r.Packed.HeadDim));
        Assert.Equal(_cpu.Download(expected.V), _cpu.Download(r.Value()));
    }

    /// <summary>
    /// Grouped heads (H 2, Hkv 1, hd 2), 2 query rows over 3 tokens' keys (a sparse step's focus rows): q and k from their own
    /// tensors, v from the value columns of the packed rows, every output element by the textbook softmax in double precision.
    /// </summary>
    [Fact]
    public void AttentionPackedValue_reads_v_from_the_value_columns_of_the_packed_rows()
    {
        int batch = 2, rows = 2, seq = 3, heads = 2, kvHeads = 1, hd = 2, width = (heads + 2 * kvHeads) * hd;
        var q = Rand(1, batch, rows, heads, hd);
        var k = Rand(2, batch, seq, kvHeads, hd);
        var buffer = Rand(3, batch, seq, width);
        float scale = 0.7f;
        var o = _cpu.AttentionPackedValue(q, k, new PackedQkv(buffer, heads, kvHeads, hd), scale);
        Assert.Equal(new Shape(batch, rows, heads, hd), o.Shape);
        float[] qs = _cpu.Download(q), ks = _cpu.Download(k), x = _cpu.Download(buffer), y = _cpu.Download(o);
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < rows; i++)
                for (int h = 0; h < heads; h++)
                {
                    double Q(int c) => qs[((b * rows + i) * heads + h) * hd + c];
                    double K(int j, int c) => ks[(b * seq + j) * hd + c];                              // the one key head
                    double V(int j, int c) => x[(b * seq + j) * width + (heads + kvHeads) * hd + c];  // its value columns
                    var s = Enumerable.Range(0, seq).Select(j => scale * Enumerable.Range(0, hd).Sum(c => Q(c) * K(j, c))).ToArray();
                    double m = s.Max(), z = s.Sum(v => Math.Exp(v - m));
                    for (int c = 0; c < hd; c++)
                    {
                        double expected = Enumerable.Range(0, seq).Sum(j => Math.Exp(s[j] - m) / z * V(j, c));
                        float actual = y[((b * rows + i) * heads + h) * hd + c];
                        Assert.True(Math.Abs(actual - expected) <= 1e-5, $"b {b} i {i} h {h} c {c}: {actual}, expected {expected}");
                    }
                }
    }

    [Fact]
    public void AttentionPackedValue_rejects_keys_or_queries_that_do_not_fit_the_buffer()
    {
        var buffer = Rand(1, 1, 3, 32);   // H 2, Hkv 1, hd 8
        var packed = new PackedQkv(buffer, 2, 1, 8);
        Assert.Contains("the buffer's tokens", Assert.Throws<ArgumentException>(() => _cpu.AttentionPackedValue(Rand(2, 1, 3, 2, 8), Rand(3, 1, 4, 1, 8), packed, 1f)).Message);
        Assert.Contains("query heads", Assert.Throws<ArgumentException>(() => _cpu.AttentionPackedValue(Rand(2, 1, 3, 4, 8), Rand(3, 1, 3, 1, 8), packed, 1f)).Message);
        Assert.Contains("(H + 2·Hkv)·hd", Assert.Throws<ArgumentException>(
            () => _cpu.AttentionPackedValue(Rand(2, 1, 3, 2, 8), Rand(3, 1, 3, 1, 8), new PackedQkv(Rand(4, 1, 3, 40), 2, 1, 8), 1f)).Message);
    }

    /// <summary>The op harness's Fusion 13 cases are well formed: on the CPU against itself they all pass (error cases throw alike).</summary>
    [Fact]
    public void The_op_harness_cases_run_on_the_cpu()
    {
        var results = OpSelfTest.RunAll(new CpuBackend(), _cpu, 7, c => c.Op.StartsWith(PackedValueOp.PrepareName, StringComparison.Ordinal)
                                                                        || c.Op.StartsWith(PackedValueOp.AttentionName, StringComparison.Ordinal));
        Assert.Equal(5 + 6 + 6 + 3 + 1, results.Count); // PrepareQueryKey, AttentionPackedValue, its reference-kernel twins, errors
        Assert.All(results, r => Assert.True(r.Passed, r.ToString()));
    }
}
