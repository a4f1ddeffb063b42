using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Benchmarks.Accounting;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Benchmarks.Accounting;

/// <summary>
/// The counting rules of Fusion 15 (issue 16: Lumina's q LayerNormed and rotated as the attention loads it, never written), by
/// hand, and what they change in Lumina-Next-SFT's forward.
/// </summary>
public class CountingQueryOnLoadTests
{
    // B 1, S 5, H 2, Hkv 1, hd 8: rows of (2 + 2)·8 = 32 (q 16, k 8, v 8); LayerNorm weights and biases [16] and [8]; fp32 tables [5, 4].
    private static (QkvPart Part, Tensor Cos, Tensor Sin) Part(CountingBackend be)
    {
        var part = new QkvPart(be.Allocate(new Shape(1, 5, 32)), be.PlaceholderWeight(new Shape(16), "nq"), be.PlaceholderWeight(new Shape(8), "nk"),
            be.PlaceholderWeight(new Shape(16), "bq"), be.PlaceholderWeight(new Shape(8), "bk"));
        return (part, be.Upload(new float[20], new Shape(5, 4)), be.Upload(new float[20], new Shape(5, 4)));
    }

    [Fact]
    public void PrepareKeyQueryStatistics_reads_q_and_k_and_writes_k_and_eight_bytes_per_token()
    {
        using var be = new CountingBackend();
        var (part, cos, sin) = Part(be);
        be.Ledger.Take();
        var r = be.PrepareKeyQueryStatistics(part, 2, 1, 8, 1e-5f, cos, sin);
        Assert.Equal((new Shape(1, 5, 1, 8), new Shape(1, 5, 2)), (r.K.Shape, r.Query.Statistics!.Shape));
        Assert.Null(r.Query.Materialised);
        var k = Assert.Single(be.Ledger.Take().Classes);
        // Read: q and k columns 2·5·24 = 240, k's weight and bias 2·(8 + 8) = 32, tables 4·(20 + 20) = 160 (q's weight and
        // bias are the attention's). Written: k 2·5·8 = 80 and the statistics 4·5·2 = 40; q's 160 bytes are not written.
        Assert.Equal(("attention_inputs_layernorm_stats_bf16", TrafficKind.MemoryBound, 240L + 32 + 160, 80L + 40, 1L),
            (k.Kernel, k.Kind, k.BytesRead, k.BytesWritten, k.Launches));
    }

    [Fact]
    public void AttentionQueryOnLoad_reads_q_in_place_with_its_statistics_weights_and_tables()
    {
        using var be = new CountingBackend();
        var (part, cos, sin) = Part(be);
        var inputs = be.PrepareKeyQueryStatistics(part, 2, 1, 8, 1e-5f, cos, sin);
        be.Ledger.Take();
        var o = be.AttentionQueryOnLoad(inputs, 0.5f);
        Assert.Equal(new Shape(1, 5, 2, 8), o.Shape);
        var k = Assert.Single(be.Ledger.Take().Classes);
        // Read: q's raw columns 2·5·16 = 160, k 80, v 80, statistics 40, q's weight and bias 2·(16 + 16) = 64, tables 160 = 584.
        // Written: 2·5·16 = 160. FLOPs 2·B·H·S·S·(hd + hd) = 2·1·2·5·5·16 = 1600.
        Assert.Equal(("attention", TrafficKind.Attention, 584L, 160L, 1600.0, 1L), (k.Kernel, k.Kind, k.BytesRead, k.BytesWritten, k.Flops, k.Launches));
    }

    [Fact]
    public void AttentionAddScaledIntoQueryOnLoad_reads_q_in_place_and_its_destination()
    {
        using var be = new CountingBackend();
        var (part, cos, sin) = Part(be);
        var inputs = be.PrepareKeyQueryStatistics(part, 2, 1, 8, 1e-5f, cos, sin);
        var destination = be.Allocate(new Shape(1, 5, 2, 8));
        var headScale = be.Upload(new float[2], new Shape(2));
        var key = be.Allocate(new Shape(1, 3, 1, 8));
        var value = be.Allocate(new Shape(1, 3, 1, 8));
        var mask = be.Upload(new float[3], new Shape(1, 3));
        be.Ledger.Take();
        be.AttentionAddScaledIntoQueryOnLoad(destination, headScale, inputs.Query, key, value, 0.5f, mask);
        var k = Assert.Single(be.Ledger.Take().Classes);
        // Read: q 160, caption k and v 2·3·8 = 48 each, mask 4·3 = 12, statistics 40, q's weight and bias 64, tables 160, and the
        // epilogue's destination 160 and fp32 head scale 8: 700. Written: the destination, 160. FLOPs 2·1·2·5·3·16 = 960.
        Assert.Equal(("attention", 700L, 160L, 960.0, 1L), (k.Kernel, k.BytesRead, k.BytesWritten, k.Flops, k.Launches));
    }

    /// <summary>
    /// Lumina-Next-SFT at 1024² (4,096 tokens, CFG batch 2, H 32, Hkv 8, hd 72): q is never written — each layer runs one
    /// statistics kernel, one self-attention and one add-into cross-attention that load q's raw columns; no PrepareQueryKey is left.
    /// </summary>
    [Fact]
    public void Luminas_dense_forward_never_writes_q()
    {
        var r = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.LuminaNextSft, 1024, 2));
        var classes = r.Forward.Classes;
        Assert.DoesNotContain(classes, c => c.Op == PackedValueOp.PrepareName || c.Op == PackedValueOp.AttentionName || c.Op == AttentionAccumulate.Name);
        var prepare = Assert.Single(classes, c => c.Op == QueryOnLoadOp.PrepareName);
        // Per call: q and k columns 2·(2·4096·(32 + 8)·72) = 47,185,920 read, k's weight and bias 2·2·576 = 2,304, fp32 tables
        // 2·4·4096·36 = 1,179,648; written k 2·2·4096·576 = 9,437,184 and the statistics 4·2·4096·2 = 65,536.
        Assert.Equal(("attention_inputs_layernorm_stats_bf16", 24L, 24 * (47_185_920L + 2_304 + 1_179_648), 24 * (9_437_184L + 65_536)),
            (prepare.Kernel, prepare.Calls, prepare.BytesRead, prepare.BytesWritten));
        var attention = Assert.Single(classes, c => c.Op == QueryOnLoadOp.AttentionName);
        // Per call: q's columns 2·2·4096·2304 = 37,748,736, k and v 2·(2·2·4096·576) = 18,874,368, statistics 65,536, q's weight and
        // bias 2·2·2304 = 9,216, tables 1,179,648 read; the output 37,748,736 written.
        Assert.Equal(("attention", 24L, 24 * (56_623_104L + 65_536 + 9_216 + 1_179_648), 24 * 37_748_736L),
            (attention.Kernel, attention.Calls, attention.BytesRead, attention.BytesWritten));
        Assert.Equal(24, Assert.Single(classes, c => c.Op == QueryOnLoadOp.AccumulateName).Calls);
    }
}
