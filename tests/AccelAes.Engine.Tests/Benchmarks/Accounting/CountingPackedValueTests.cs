using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Benchmarks.Accounting;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Benchmarks.Accounting;

/// <summary>
/// The counting rules of Fusion 13 (issue 16: Lumina's self-attention reads v where the fused Q/K/V GEMM wrote it), by hand,
/// and what they change in Lumina-Next-SFT's forward.
/// </summary>
public class CountingPackedValueTests
{
    [Fact]
    public void PrepareQueryKey_reads_and_writes_the_q_and_k_columns_only()
    {
        using var be = new CountingBackend();
        // B 1, S 5, H 2, Hkv 1, hd 8: rows of (2 + 2)·8 = 32, of which q and k are the first 24; LayerNorm weights and biases
        // [16] and [8]; fp32 tables [5, 4].
        var buffer = be.Allocate(new Shape(1, 5, 32));
        var part = new QkvPart(buffer, be.PlaceholderWeight(new Shape(16), "nq"), be.PlaceholderWeight(new Shape(8), "nk"),
            be.PlaceholderWeight(new Shape(16), "bq"), be.PlaceholderWeight(new Shape(8), "bk"));
        var cos = be.Upload(new float[20], new Shape(5, 4));
        var sin = be.Upload(new float[20], new Shape(5, 4));
        be.Ledger.Take();
        var r = be.PrepareQueryKey(part, 2, 1, 8, 1e-5f, cos, sin, QkNorm.LayerNormAcrossHeads);
        Assert.Equal((new Shape(1, 5, 2, 8), new Shape(1, 5, 1, 8)), (r.Q.Shape, r.K.Shape));
        Assert.Same(buffer, r.Packed.Buffer);
        var k = Assert.Single(be.Ledger.Take().Classes);
        // q and k columns 2·5·24 = 240 bytes read and written; weights and biases 2·(16 + 8 + 16 + 8) = 96 and tables
        // 4·(20 + 20) = 160 read; v's columns (2·5·8 = 80 bytes) neither read nor written.
        Assert.Equal(("attention_inputs_layernorm_bf16", TrafficKind.MemoryBound, 240L + 96 + 160, 240L, 1L),
            (k.Kernel, k.Kind, k.BytesRead, k.BytesWritten, k.Launches));
    }

    [Fact]
    public void PrepareQueryKey_with_per_head_rms_norms_is_one_attention_inputs_launch()
    {
        using var be = new CountingBackend();
        // B 2, S 3, H = Hkv = 1, hd 8: rows of 24, q and k the first 16; per-head norms [8]; no RoPE.
        var buffer = be.Allocate(new Shape(2, 3, 24));
        be.Ledger.Take();
        be.PrepareQueryKey(new QkvPart(buffer, be.PlaceholderWeight(new Shape(8), "nq"), be.PlaceholderWeight(new Shape(8), "nk")), 1, 1, 8, 1e-6f);
        var k = Assert.Single(be.Ledger.Take().Classes);
        // q and k: 2·(2·3·16) = 192 bytes each way; norms 2·(8 + 8) = 32 read.
        Assert.Equal(("attention_inputs_bf16", 192L + 32, 192L, 1L), (k.Kernel, k.BytesRead, k.BytesWritten, k.Launches));
    }

    [Fact]
    public void AttentionPackedValue_reads_q_k_and_the_value_columns_once()
    {
        using var be = new CountingBackend();
        // B 2, 3 query rows over S 5, H 4, Hkv 2, hd 8: rows of (4 + 4)·8 = 64.
        var q = be.Allocate(new Shape(2, 3, 4, 8));
        var key = be.Allocate(new Shape(2, 5, 2, 8));
        var buffer = be.Allocate(new Shape(2, 5, 64));
        be.Ledger.Take();
        var o = be.AttentionPackedValue(q, key, new PackedQkv(buffer, 4, 2, 8), 0.5f);
        Assert.Equal(new Shape(2, 3, 4, 8), o.Shape);
        var k = Assert.Single(be.Ledger.Take().Classes);
        // Read q 2·(2·3·32) = 384, k 2·(2·5·16) = 320, v 2·(2·5·16) = 320; written 2·(2·3·32) = 384;
        // FLOPs 2·B·H·Sq·S·(hd + hd) = 2·2·4·3·5·16 = 3840.
        Assert.Equal(("attention", TrafficKind.Attention, 1024L, 384L, 3840.0, 1L), (k.Kernel, k.Kind, k.BytesRead, k.BytesWritten, k.Flops, k.Launches));
    }

    /// <summary>
    /// Lumina-Next-SFT at 1024²: no self-attention copies v or runs PrepareAttentionInputs. (Since Fusion 15 the dense forward
    /// does not write q either: PrepareKeyQueryStatistics and AttentionQueryOnLoad, counted in CountingQueryOnLoadTests; the
    /// counts above still hold where q is materialised.)
    /// </summary>
    [Fact]
    public void Luminas_self_attention_never_copies_v()
    {
        var r = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.LuminaNextSft, 1024, 2));
        var classes = r.Forward.Classes;
        Assert.DoesNotContain(classes, c => c.Op == AttentionInputsOp.Name);
        Assert.DoesNotContain(classes, c => c.Kernel == "attention_inputs_layernorm_bf16");
        Assert.Equal(24, Assert.Single(classes, c => c.Op == QueryOnLoadOp.AttentionName).Calls);
    }
}
