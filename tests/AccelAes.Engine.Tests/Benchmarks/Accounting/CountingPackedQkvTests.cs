using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Benchmarks.Accounting;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Benchmarks.Accounting;

/// <summary>The counting rules of Fusion 7 (issue 16: attention reads q/k/v in place from a packed QKV buffer), by hand.</summary>
public class CountingPackedQkvTests
{
    /// <summary>Fusion 10: a row range of a batch is one strided-batch matmul, the weight read once for both items.</summary>
    [Fact]
    public void LinearIntoRows_is_one_strided_batch_matmul_into_a_row_range()
    {
        using var be = new CountingBackend();
        // B 2, rows 4 of S 10 at offset 6, N = K = 128: first row 6·128·2 = 1536 bytes in, strides 4·128·2 and 10·128·2
        // bytes: all multiples of 256.
        var dst = be.Allocate(new Shape(2, 10, 128));
        var x = be.PlaceholderWeight(new Shape(2, 4, 128), "x");
        var w = be.PlaceholderWeight(new Shape(128, 128), "w");
        var b = be.PlaceholderWeight(new Shape(128), "b");
        be.Ledger.Take();
        be.LinearIntoRows(dst, 6, x, w, b);
        var k = Assert.Single(be.Ledger.Take().Classes);
        // Read: x 2·(2·4·128) = 2048, weight 2·128·128 = 32768 once, bias 2·128 = 256; written 2·(2·4·128) = 2048;
        // FLOPs 2·8·128·128 = 262144; one launch.
        Assert.Equal(("cuBLASLt matmul (strided batch)", TrafficKind.Gemm, 2048L + 32768 + 256, 2048L, 262144.0, 1L),
            (k.Kernel, k.Kind, k.BytesRead, k.BytesWritten, k.Flops, k.Launches));
    }

    /// <summary>Off the 256-byte alignment (and without cuBLASLt) the range is gemm.cu's batched entry: still one launch.</summary>
    [Fact]
    public void LinearIntoRows_off_the_alignment_or_on_gemm_cu_is_one_batched_gemm_cu_launch()
    {
        foreach (var engine in new[] { CountedGemmEngine.CublasLt, CountedGemmEngine.GemmCu })
        {
            using var be = new CountingBackend(engine);
            // N 6: the range's first row is 6·6·2 = 72 bytes in, not a multiple of 256.
            var dst = be.Allocate(new Shape(2, 10, 6));
            var x = be.PlaceholderWeight(new Shape(2, 4, 8), "x");
            var w = be.PlaceholderWeight(new Shape(6, 8), "w");
            var b = be.PlaceholderWeight(new Shape(6), "b");
            be.Ledger.Take();
            be.LinearIntoRows(dst, 6, x, w, b);
            var k = Assert.Single(be.Ledger.Take().Classes);
            // Rows 2·(2·4·8) = 128 + weight 2·6·8 = 96 + bias 2·6 = 12 read, 2·(2·4·6) = 96 written, 2·8·6·8 FLOPs.
            Assert.Equal(("gemm_bf16_batched", TrafficKind.Gemm, 128L + 96 + 12, 96L, 768.0, 1L),
                (k.Kernel, k.Kind, k.BytesRead, k.BytesWritten, k.Flops, k.Launches));
        }
    }

    [Fact]
    public void LinearIntoRows_over_the_whole_buffer_is_one_gemm_over_every_row()
    {
        using var be = new CountingBackend();
        var x = be.PlaceholderWeight(new Shape(2, 4, 8), "x");
        var w = be.PlaceholderWeight(new Shape(6, 8), "w");
        var whole = be.Allocate(new Shape(2, 4, 6));
        be.Ledger.Take();
        be.LinearIntoRows(whole, 0, x, w, null);
        var k = Assert.Single(be.Ledger.Take().Classes);
        // The rows are the whole buffer: one GEMM over 8 rows, 2·8·8 + 2·6·8 read, 2·8·6 written.
        Assert.Equal(("cuBLASLt matmul", 128L + 96, 96L, 768.0, 1L), (k.Kernel, k.BytesRead, k.BytesWritten, k.Flops, k.Launches));
    }

    [Fact]
    public void AttentionPacked_reads_the_packed_rows_once_and_runs_no_unpacking_pass()
    {
        using var be = new CountingBackend();
        // B 2, S 5, H 4, Hkv 2, hd 8: rows of 64.
        var buffer = be.Allocate(new Shape(2, 5, 64));
        be.Ledger.Take();
        var o = be.AttentionPacked(new PackedQkv(buffer, 4, 2, 8), 0.5f);
        Assert.Equal(new Shape(2, 5, 4, 8), o.Shape);
        var k = Assert.Single(be.Ledger.Take().Classes);
        // Read q, k, v: 2·(2·5·64); written 2·(2·5·4·8); FLOPs 2·B·H·S·S·(hd + hd) = 2·2·4·5·5·16.
        Assert.Equal(("attention", TrafficKind.Attention, 1280L, 640L, 6400.0, 1L), (k.Kernel, k.Kind, k.BytesRead, k.BytesWritten, k.Flops, k.Launches));
    }

    [Fact]
    public void PrepareAttentionInputsInPlace_reads_and_writes_back_q_and_k_only()
    {
        using var be = new CountingBackend();
        // B 1, S 5 (2 + 3), H = Hkv = 1, hd 8: rows of 24; q/k norms on the first part; fp32 tables [5, 4].
        var buffer = be.Allocate(new Shape(1, 5, 24));
        var nq = be.PlaceholderWeight(new Shape(8), "nq");
        var nk = be.PlaceholderWeight(new Shape(8), "nk");
        var cos = be.Upload(new float[20], new Shape(5, 4));
        var sin = be.Upload(new float[20], new Shape(5, 4));
        be.Ledger.Take();
        be.PrepareAttentionInputsInPlace(new PackedQkv(buffer, 1, 1, 8), [new QkvPartNorms(2, nq, nk), new QkvPartNorms(3)], 1e-6f, cos, sin);
        var k = Assert.Single(be.Ledger.Take().Classes);
        // q and k columns 2·5·16 = 160 bytes read and written; norms 2·(8 + 8), tables 4·(20 + 20) read; v (80 bytes) untouched.
        Assert.Equal(("attention_inputs_inplace_bf16", TrafficKind.MemoryBound, 160L + 32 + 160, 160L, 1L),
            (k.Kernel, k.Kind, k.BytesRead, k.BytesWritten, k.Launches));
    }

    [Fact]
    public void AttentionPackedInto_counts_as_attention_packed_with_no_copy()
    {
        using var be = new CountingBackend();
        var buffer = be.Allocate(new Shape(2, 5, 64));
        var dst = be.Allocate(new Shape(2, 5, 40));
        be.Ledger.Take();
        be.AttentionPackedInto(dst, 4, new PackedQkv(buffer, 4, 2, 8), 0.5f);
        var k = Assert.Single(be.Ledger.Take().Classes);
        Assert.Equal(("attention", 1280L, 640L, 1L), (k.Kernel, k.BytesRead, k.BytesWritten, k.Launches));
    }

    /// <summary>FLUX.1-dev: every dense attention (19 double, 38 single) reads q, k and v in place; only q and k are rewritten.</summary>
    [Fact]
    public void Flux_rewrites_q_and_k_in_place_and_never_copies_v()
    {
        var flux = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.FluxDev, 1024, 1));
        Assert.DoesNotContain(flux.Forward.Classes, c => c.Op == AttentionInputsOp.Name);
        Assert.Equal(57, Assert.Single(flux.Forward.Classes, c => c.Kernel == "attention_inputs_inplace_bf16").Calls);
        Assert.Equal(19, Assert.Single(flux.Forward.Classes, c => c.Op == "AttentionPacked").Calls);
        Assert.Equal(38, Assert.Single(flux.Forward.Classes, c => c.Op == "AttentionPackedInto").Calls);
    }

    /// <summary>SD3-Medium (no qk-norm): q, k and v are never copied: the QKV GEMMs write one packed buffer per attention.</summary>
    [Fact]
    public void Sd3_mediums_attentions_read_q_k_v_in_place()
    {
        var sd3 = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.Sd3Medium, 1024, 2));
        Assert.DoesNotContain(sd3.Forward.Classes, c => c.Op == AttentionInputsOp.Name);
        Assert.Equal(24, Assert.Single(sd3.Forward.Classes, c => c.Op == "AttentionPacked").Calls);
        // 24 joint attentions × 2 streams, the CFG batch of 2 in one strided-batch matmul each (Fusion 10).
        var gemms = Assert.Single(sd3.Forward.Classes, c => c.Op == "LinearIntoRows");
        Assert.Equal(("cuBLASLt matmul (strided batch)", 48L), (gemms.Kernel, gemms.Launches));
    }
}
