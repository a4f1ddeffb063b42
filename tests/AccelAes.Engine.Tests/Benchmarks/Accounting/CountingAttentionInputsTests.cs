using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Benchmarks.Accounting;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Benchmarks.Accounting;

/// <summary>The counting rule of PrepareAttentionInputs (issue 16's QKV path), by hand, and its effect on the real configurations.</summary>
public class CountingAttentionInputsTests
{
    [Fact]
    public void One_launch_reads_the_parts_norms_and_tables_once_and_writes_q_k_v_once()
    {
        using var be = new CountingBackend();
        // H = Hkv = 1, hd 8: rows of 24. Text part 2 tokens with q/k norms, image part 3 tokens without; fp32 tables [5, 4].
        var text = be.PlaceholderWeight(new Shape(1, 2, 24), "text");
        var image = be.PlaceholderWeight(new Shape(1, 3, 24), "image");
        var nq = be.PlaceholderWeight(new Shape(8), "nq");
        var nk = be.PlaceholderWeight(new Shape(8), "nk");
        var cos = be.Upload(new float[20], new Shape(5, 4));
        var sin = be.Upload(new float[20], new Shape(5, 4));
        be.Ledger.Take();
        var r = be.PrepareAttentionInputs([new QkvPart(text, nq, nk), new QkvPart(image)], 1, 1, 8, 1e-6f, cos, sin);
        var k = Assert.Single(be.Ledger.Take().Classes);
        Assert.Equal(new Shape(1, 5, 1, 8), r.Q.Shape);
        // Read: parts 2·(48 + 72), norms 2·(8 + 8), tables 4·(20 + 20); written: q, k, v 2·(40 + 40 + 40).
        Assert.Equal(("attention_inputs_bf16", TrafficKind.MemoryBound, 240L + 32 + 160, 240L, 1L),
            (k.Kernel, k.Kind, k.BytesRead, k.BytesWritten, k.Launches));
    }

    [Fact]
    public void LayerNorm_across_heads_also_reads_the_biases_and_runs_its_own_kernel()
    {
        using var be = new CountingBackend();
        // H 2, Hkv 1, hd 8: rows of 32, q width 16, k width 8; 3 tokens, no tables.
        var part = be.PlaceholderWeight(new Shape(1, 3, 32), "qkv");
        Tensor wq = be.PlaceholderWeight(new Shape(16), "wq"), bq = be.PlaceholderWeight(new Shape(16), "bq");
        Tensor wk = be.PlaceholderWeight(new Shape(8), "wk"), bk = be.PlaceholderWeight(new Shape(8), "bk");
        be.Ledger.Take();
        be.PrepareAttentionInputs([new QkvPart(part, wq, wk, bq, bk)], 2, 1, 8, 1e-5f, norm: QkNorm.LayerNormAcrossHeads);
        var k = Assert.Single(be.Ledger.Take().Classes);
        // Read: the part 2·96, weights and biases 2·(16 + 8 + 16 + 8); written: q 2·48, k and v 2·24 each.
        Assert.Equal(("attention_inputs_layernorm_bf16", 192L + 96, 192L, 1L), (k.Kernel, k.BytesRead, k.BytesWritten, k.Launches));
    }

    [Fact]
    public void LinearOfRows_is_one_gemm_per_batch_item_over_its_rows_and_no_copy()
    {
        using var be = new CountingBackend();
        var x = be.PlaceholderWeight(new Shape(2, 10, 8), "x");
        var w = be.PlaceholderWeight(new Shape(6, 8), "w");
        var b = be.PlaceholderWeight(new Shape(6), "b");
        be.Ledger.Take();
        be.LinearOfRows(x, 4, 5, w, b);
        var k = Assert.Single(be.Ledger.Take().Classes);
        // Per item: rows 2·5·8 + weight 2·6·8 + bias 2·6 read, 2·5·6 written, 2·5·6·8 FLOPs; two items, two launches.
        Assert.Equal(("cuBLASLt matmul", TrafficKind.Gemm, 2 * (80L + 96 + 12), 2 * 60L, 2 * 480.0, 2L),
            (k.Kernel, k.Kind, k.BytesRead, k.BytesWritten, k.Flops, k.Launches));
    }

    [Fact]
    public void A_head_width_the_kernel_does_not_take_is_counted_as_the_separate_passes()
    {
        using var be = new CountingBackend();
        var part = be.PlaceholderWeight(new Shape(1, 2, 60), "qkv"); // hd 20
        var nq = be.PlaceholderWeight(new Shape(20), "nq");
        be.Ledger.Take();
        be.PrepareAttentionInputs([new QkvPart(part, nq)], 1, 1, 20, 1e-6f);
        var classes = be.Ledger.Take().Classes;
        Assert.DoesNotContain(classes, c => c.Kernel == "attention_inputs_bf16");
        Assert.Contains(classes, c => c.Kernel == "rmsnorm_bf16");
    }

    /// <summary>
    /// FLUX.1-dev: the 57 attentions' q/k RMSNorms, RoPE passes and text/image concatenations (6.46 + 6.72 + 3.28 GB in
    /// docs/perf/accounting-after.md, fusion 3) are one kernel each, and q, k, v are one GEMM per stream; SD3-Medium's 24
    /// joint attentions no longer concatenate (Concat · copy2d_b16, 3.92 GB, 144 launches).
    /// </summary>
    [Fact]
    public void The_dit_attentions_prepare_their_inputs_in_one_kernel()
    {
        var flux = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.FluxDev, 1024, 1));
        Assert.DoesNotContain(flux.Forward.Classes, c => c.Kernel is "rmsnorm_bf16" or "rotary_bf16_f32table" || c.Op == "Concat" && c.Bytes > 1_000_000_000);
        // Fusion 7: the norms and RoPE run in place on the packed QKV buffer (CountingPackedQkvTests).
        Assert.Equal(57, Assert.Single(flux.Forward.Classes, c => c.Kernel == "attention_inputs_inplace_bf16").Calls);
        var sd3 = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.Sd3Medium, 1024, 2));
        Assert.DoesNotContain(sd3.Forward.Classes, c => c.Op == "Concat");
        // The joint attentions' gated output projections read their rows of the attention output in place (Fusion 6: one
        // strided-batch matmul per projection, whatever the batch): no Slice copies them.
        Assert.Equal(19 * 2, Assert.Single(flux.Forward.Classes, c => c.Op == "LinearOfRowsAddGatedInPlace" && c.Kind == TrafficKind.Gemm).Launches);
        Assert.Equal(24 + 23, Assert.Single(sd3.Forward.Classes, c => c.Op == "LinearOfRowsAddGatedInPlace" && c.Kind == TrafficKind.Gemm).Launches);
        Assert.True(flux.Forward.Classes.Where(c => c.Op == "Slice").Sum(c => c.Bytes) < 100_000_000, "FLUX's slices are the small modulation chunks only");
        Assert.DoesNotContain(sd3.Forward.Classes, c => c.Op == "Slice" && c.Kernel == "memcpy2d" && c.Bytes > 1_000_000_000);
        // Fusion 7: SD3-Medium (no qk-norm) reads q, k and v in place (CountingPackedQkvTests); nothing to prepare.
        Assert.DoesNotContain(sd3.Forward.Classes, c => c.Kernel == "attention_inputs_bf16");
    }

    /// <summary>Lumina-Next-SFT: attn1's LayerNorm across heads and RoPE (2.29 + 2.32 GB before) are one kernel per layer; no rotary pass is left.</summary>
    [Fact]
    public void Luminas_self_attention_prepares_its_inputs_in_one_kernel()
    {
        var r = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.LuminaNextSft, 1024, 2));
        // Since Fusion 15 the kernel writes k and q's LayerNorm statistics only (the attention kernels finish q as they load it).
        Assert.Equal(24, Assert.Single(r.Forward.Classes, c => c.Kernel == "attention_inputs_layernorm_stats_bf16").Calls);
        Assert.DoesNotContain(r.Forward.Classes, c => c.Op == "Rotary");
    }
}
