using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Diagnostics;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Ops;

/// <summary>
/// Fusion 15's ops on the CPU reference (issue 16: Lumina's q normalised as the attention loads it): the statistics against
/// a double-precision LayerNorm, k and both attentions against PrepareQueryKey + the ops they replace, and the checks.
/// </summary>
public class CpuQueryOnLoadTests
{
    private readonly CpuBackend _cpu = new();
    private const int Batch = 2, Seq = 5, Heads = 4, KvHeads = 2, Hd = 8, Pairs = 3;

    private Tensor Rand(int seed, params int[] dims) => _cpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed, -2f, 2f), new Shape(dims));

    private (QkvPart Part, Tensor Cos, Tensor Sin) Lumina() =>
        (new QkvPart(Rand(1, Batch, Seq, (Heads + 2 * KvHeads) * Hd), Rand(2, Heads * Hd), Rand(3, KvHeads * Hd), Rand(4, Heads * Hd), Rand(5, KvHeads * Hd)),
            Rand(6, Seq, Pairs), Rand(7, Seq, Pairs));

    [Fact]
    public void Statistics_are_each_tokens_layernorm_mean_and_rstd_over_the_q_columns_and_k_is_prepare_query_keys()
    {
        var (part, cos, sin) = Lumina();
        var r = _cpu.PrepareKeyQueryStatistics(part, Heads, KvHeads, Hd, 1e-5f, cos, sin);
        var expected = _cpu.PrepareQueryKey(part, Heads, KvHeads, Hd, 1e-5f, cos, sin, QkNorm.LayerNormAcrossHeads);
        Assert.Equal(_cpu.Download(expected.K), _cpu.Download(r.K));
        Assert.Same(part.Qkv, r.Packed.Buffer);
        float[] x = _cpu.Download(part.Qkv), stats = _cpu.Download(r.Query.Statistics!);
        int width = Heads * Hd, row = (Heads + 2 * KvHeads) * Hd;
        for (int token = 0; token < Batch * Seq; token++)
        {
            var q = Enumerable.Range(0, width).Select(c => (double)x[token * row + c]).ToArray();
            double mean = q.Average(), variance = q.Sum(v => (v - mean) * (v - mean)) / width;
            Assert.Equal(mean, stats[2 * token], 5);
            Assert.Equal(1 / Math.Sqrt(variance + 1e-5), stats[2 * token + 1], 4);
        }
    }

    [Fact]
    public void Attention_with_the_query_on_load_is_prepare_query_key_then_attention_packed_value()
    {
        var (part, cos, sin) = Lumina();
        var inputs = _cpu.PrepareKeyQueryStatistics(part, Heads, KvHeads, Hd, 1e-5f, cos, sin);
        var prepared = _cpu.PrepareQueryKey(part, Heads, KvHeads, Hd, 1e-5f, cos, sin, QkNorm.LayerNormAcrossHeads);
        Assert.Equal(_cpu.Download(_cpu.AttentionPackedValue(prepared.Q, prepared.K, prepared.Packed, 0.3f)),
            _cpu.Download(_cpu.AttentionQueryOnLoad(inputs, 0.3f)));
    }

    [Fact]
    public void Add_scaled_into_with_the_query_on_load_is_attention_add_scaled_into_with_prepare_query_keys_q()
    {
        var (part, cos, sin) = Lumina();
        var inputs = _cpu.PrepareKeyQueryStatistics(part, Heads, KvHeads, Hd, 1e-5f, cos, sin);
        var q = _cpu.PrepareQueryKey(part, Heads, KvHeads, Hd, 1e-5f, cos, sin, QkNorm.LayerNormAcrossHeads).Q;
        var (key, value, scale) = (Rand(8, Batch, 3, KvHeads, Hd), Rand(9, Batch, 3, KvHeads, Hd), Rand(10, Heads));
        var mask = _cpu.Upload([1, 1, 0, 1, 0, 1], new Shape(Batch, 3));
        var expected = Rand(11, Batch, Seq, Heads, Hd);
        var actual = Rand(11, Batch, Seq, Heads, Hd);
        _cpu.AttentionAddScaledInto(expected, scale, q, key, value, 0.4f, mask);
        _cpu.AttentionAddScaledIntoQueryOnLoad(actual, scale, inputs.Query, key, value, 0.4f, mask);
        Assert.Equal(_cpu.Download(expected), _cpu.Download(actual));
        Assert.NotEqual(_cpu.Download(Rand(11, Batch, Seq, Heads, Hd)), _cpu.Download(actual)); // it did add
    }

    [Fact]
    public void The_ops_reject_a_query_without_a_norm_and_mismatched_statistics()
    {
        var (part, cos, sin) = Lumina();
        var e = Assert.Throws<ArgumentException>(() => _cpu.PrepareKeyQueryStatistics(part with { NormQ = null }, Heads, KvHeads, Hd, 1e-5f, cos, sin));
        Assert.Contains("q's LayerNorm weight is missing", e.Message);
        var inputs = _cpu.PrepareKeyQueryStatistics(part, Heads, KvHeads, Hd, 1e-5f, cos, sin);
        var wrong = inputs with { Query = inputs.Query with { Statistics = Rand(12, Batch, Seq) } };
        e = Assert.Throws<ArgumentException>(() => _cpu.AttentionQueryOnLoad(wrong, 1f));
        Assert.Contains("statistics", e.Message);
        e = Assert.Throws<ArgumentException>(() => _cpu.AttentionAddScaledIntoQueryOnLoad(Rand(13, Batch, Seq, Heads, Hd), Rand(14, Heads - 1),
            inputs.Query, Rand(15, Batch, 3, KvHeads, Hd), Rand(16, Batch, 3, KvHeads, Hd), 1f));
        Assert.Contains("one factor per query head", e.Message);
    }

    /// <summary>The op harness's cases of the three ops pass on the CPU (the bf16-storage run against fp32; the errors raise).</summary>
    [Fact]
    public void The_op_harness_cases_pass_on_the_cpu()
    {
        var results = OpSelfTest.RunAll(new CpuBackend(), _cpu, 7, c => c.Op.StartsWith("PrepareKeyQueryStatistics", StringComparison.Ordinal)
                                                                        || c.Op.Contains("QueryOnLoad", StringComparison.Ordinal));
        // k and statistics on 4 shapes (hd 20 has neither), attn1 and attn2 on 5 shapes and their 5 reference-kernel twins, 2 errors.
        Assert.Equal(4 + 4 + 2 * (5 + 5) + 2, results.Count);
        Assert.All(results, r => Assert.True(r.Passed, r.ToString()));
    }
}
