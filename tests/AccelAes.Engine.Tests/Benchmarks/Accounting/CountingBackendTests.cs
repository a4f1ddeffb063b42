using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Benchmarks.Accounting;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Tests.Benchmarks.Accounting;

/// <summary>
/// The counting rules on cases small enough to count by hand: bytes read and written, FLOPs, kernel launches and device
/// copies per op, as the CUDA backend's kernels move them (bf16 = 2 bytes, fp32 = 4). The launch counts are checked
/// against the emulated driver in CountingBackendEmulatorTests.
/// </summary>
public class CountingBackendTests
{
    private static TrafficClass Single(TrafficTotals t, string kernel) => Assert.Single(t.Classes, c => c.Kernel == kernel);

    [Fact]
    public void Linear_with_an_unfused_activation_converts_the_fp32_input_writes_fp32_then_activates()
    {
        using var be = new CountingBackend();
        var x = be.Upload(new float[2 * 3 * 4], new Shape(2, 3, 4));          // F32: converted to bf16 first
        var w = be.PlaceholderWeight(new Shape(5, 4), "w");                     // BF16
        var b = be.PlaceholderWeight(new Shape(5), "b");
        be.Ledger.Take();

        var y = be.Linear(x, w, b, Activation.Silu);
        var t = be.Ledger.Take();

        Assert.Equal(new Shape(2, 3, 5), y.Shape);
        Assert.Equal(DType.BF16, y.DType);
        var convert = Single(t, "convert_f32_to_bf16");
        Assert.Equal((4L * 24, 2L * 24, 1L), (convert.BytesRead, convert.BytesWritten, convert.Launches));
        var gemm = Single(t, "cuBLASLt matmul (fp32 out)");
        // m = 6, n = 5, k = 4: x 2·24 + w 2·20 read; fp32 out 4·30 written; bias left to the epilogue kernel.
        Assert.Equal((48L + 40, 120L, 2.0 * 6 * 5 * 4), (gemm.BytesRead, gemm.BytesWritten, gemm.Flops));
        var epilogue = Single(t, "activate_f32_to_bf16");
        Assert.Equal((120L + 10, 60L), (epilogue.BytesRead, epilogue.BytesWritten));
        Assert.Equal(3, t.Launches);
        Assert.Equal(240, t.GemmFlops);
        Assert.Equal(96 + 48 + 130 + 60, t.MemoryBoundBytes);   // the GEMM's own operands are not memory-bound traffic
        Assert.Equal(88 + 120, t.GemmBytes);
    }

    [Theory]
    [InlineData(Activation.None)]
    [InlineData(Activation.GeluTanh)]
    public void Linear_with_a_cublaslt_epilogue_is_one_launch_writing_bf16(Activation activation)
    {
        using var be = new CountingBackend();
        var x = be.PlaceholderWeight(new Shape(6, 4), "x");
        var w = be.PlaceholderWeight(new Shape(5, 4), "w");
        var b = be.PlaceholderWeight(new Shape(5), "b");
        be.Ledger.Take();
        be.Linear(x, w, b, activation);
        var gemm = Assert.Single(be.Ledger.Take().Classes);
        Assert.Equal((TrafficKind.Gemm, 48L + 40 + 10, 60L, 1L), (gemm.Kind, gemm.BytesRead, gemm.BytesWritten, gemm.Launches));
    }

    [Fact]
    public void Gemm_cu_fuses_every_activation()
    {
        using var be = new CountingBackend(CountedGemmEngine.GemmCu);
        var x = be.PlaceholderWeight(new Shape(6, 4), "x");
        var w = be.PlaceholderWeight(new Shape(5, 4), "w");
        be.Ledger.Take();
        be.Linear(x, w, null, Activation.Silu);
        var gemm = Assert.Single(be.Ledger.Take().Classes);
        Assert.Equal(("gemm_bf16", 48L + 40, 60L, 1L), (gemm.Kernel, gemm.BytesRead, gemm.BytesWritten, gemm.Launches));
    }

    [Fact]
    public void Attention_counts_flash_flops_and_reads_each_operand_once()
    {
        using var be = new CountingBackend();
        var q = be.PlaceholderWeight(new Shape(2, 6, 4, 8), "q");
        var k = be.PlaceholderWeight(new Shape(2, 9, 2, 8), "k");   // GQA: 2 kv heads
        var v = be.PlaceholderWeight(new Shape(2, 9, 2, 16), "v");
        var mask = be.Upload(new float[18], new Shape(2, 9));          // F32: read as is
        be.Ledger.Take();
        var o = be.Attention(q, k, v, 0.3f, mask);
        var a = Assert.Single(be.Ledger.Take().Classes);
        Assert.Equal(new Shape(2, 6, 4, 16), o.Shape);
        Assert.Equal(2.0 * 2 * 4 * 6 * 9 * (8 + 16), a.Flops);
        Assert.Equal(2L * (384 + 288 + 576) + 4 * 18, a.BytesRead);
        Assert.Equal(2L * 768, a.BytesWritten);
        Assert.Equal((TrafficKind.Attention, 1L), (a.Kind, a.Launches));
    }

    [Fact]
    public void Concat_is_a_driver_2d_copy_per_part_unless_the_parts_are_contiguous_runs()
    {
        using var be = new CountingBackend();
        var a = be.PlaceholderWeight(new Shape(2, 3, 4), "a");
        var b = be.PlaceholderWeight(new Shape(2, 5, 4), "b");
        be.Ledger.Take();

        be.Concat(1, a, b);     // two outer rows: strided copies, each one cuMemcpy2DAsync (no kernel)
        var inner = be.Ledger.Take();
        var copy2d = Single(inner, "memcpy2d");
        Assert.Equal((TrafficKind.DeviceCopy, 2L, 2L * 64, 2L * 64, 0L), (copy2d.Kind, copy2d.Calls, copy2d.BytesRead, copy2d.BytesWritten, copy2d.Launches));
        Assert.Equal(2, inner.DeviceCopies);

        var c = be.PlaceholderWeight(new Shape(3, 2, 4), "c");
        be.Ledger.Take();
        be.Concat(0, a.Reshape(3, 2, 4), c);   // along the outermost axis: each part one memcpy, no launch
        var outer = be.Ledger.Take();
        var memcpy = Single(outer, "memcpy");
        Assert.Equal((TrafficKind.DeviceCopy, 2L, 2L * 48, 0L), (memcpy.Kind, memcpy.Calls, memcpy.BytesRead, memcpy.Launches));
        Assert.Equal(0, outer.Launches);
        Assert.Equal(2, outer.DeviceCopies);
        Assert.Equal(4 * 48, outer.MemoryBoundBytes);
    }

    [Fact]
    public void Concat_of_mixed_types_converts_the_fp32_part_to_bf16()
    {
        using var be = new CountingBackend();
        var a = be.Upload(new float[12], new Shape(1, 3, 4));
        var b = be.PlaceholderWeight(new Shape(1, 5, 4), "b");
        be.Ledger.Take();
        var y = be.Concat(1, a, b);
        var t = be.Ledger.Take();
        Assert.Equal(DType.BF16, y.DType);
        Assert.Equal((48L, 24L), (Single(t, "convert_f32_to_bf16").BytesRead, Single(t, "convert_f32_to_bf16").BytesWritten));
        Assert.Equal(2L * 32, Single(t, "memcpy").BytesWritten);  // one outer row: both parts are contiguous runs
        Assert.Equal(1, t.Launches);
    }

    [Fact]
    public void Slice_is_a_memcpy_when_contiguous_else_a_driver_2d_copy()
    {
        using var be = new CountingBackend();
        var x = be.PlaceholderWeight(new Shape(2, 6, 4), "x");
        be.Ledger.Take();
        be.Slice(x, 0, 1, 1);
        Assert.Equal(0, be.Ledger.Take().Launches);
        be.Slice(x, 2, 1, 2);
        var t = be.Ledger.Take();
        var copy2d = Single(t, "memcpy2d");
        Assert.Equal((2L * 24, 2L * 24, 0L), (copy2d.BytesRead, copy2d.BytesWritten, copy2d.Launches));
        Assert.Equal(0, t.Launches);
    }

    [Fact]
    public void Elementwise_ops_keep_fp32_or_convert_to_bf16_as_the_cuda_backend_does()
    {
        using var be = new CountingBackend();
        var f = be.Upload(new float[8 * 16], new Shape(1, 8, 16));
        var h = be.PlaceholderWeight(new Shape(1, 8, 16), "h");
        var gate = be.PlaceholderWeight(new Shape(1, 16), "gate");
        be.Ledger.Take();

        Assert.Equal(DType.F32, be.Scale(f, 2).DType);
        var scale = Single(be.Ledger.Take(), "scale_f32");
        Assert.Equal((512L, 512L), (scale.BytesRead, scale.BytesWritten));

        Assert.Equal(DType.BF16, be.Add(f, h).DType);     // mixed: f converted, then a bf16 kernel
        var add = be.Ledger.Take();
        Assert.Equal(2, add.Launches);
        Assert.Equal((2L * 256, 2L * 128), (Single(add, "add_broadcast_bf16").BytesRead, Single(add, "add_broadcast_bf16").BytesWritten));

        be.AddGatedInPlace(f, h, gate);                    // fp32 residual read and written, y and gate read in bf16
        var gated = Single(be.Ledger.Take(), "add_gated_f32");
        Assert.Equal((512L + 256 + 32, 512L), (gated.BytesRead, gated.BytesWritten));

        var m = be.Modulate(h, gate, null);
        var modulate = Single(be.Ledger.Take(), "modulate_bf16");
        Assert.Equal((256L + 32, 256L), (modulate.BytesRead, modulate.BytesWritten));
        Assert.Equal(DType.BF16, m.DType);
    }

    [Fact]
    public void Rotary_with_fp32_tables_reads_them_once_in_fp32()
    {
        using var be = new CountingBackend();
        var x = be.PlaceholderWeight(new Shape(1, 5, 3, 8), "x");
        var cos = be.Upload(new float[20], new Shape(5, 4));
        var sin = be.Upload(new float[20], new Shape(5, 4));
        be.Ledger.Take();
        be.Rotary(x, cos, sin);
        var r = Assert.Single(be.Ledger.Take().Classes);
        Assert.Equal(("rotary_bf16_f32table", 2L * 120 + 4 * 40, 2L * 120), (r.Kernel, r.BytesRead, r.BytesWritten));
    }

    [Fact]
    public void Fp32_weights_are_converted_on_the_device_and_keep_their_values_for_the_host()
    {
        using var be = new CountingBackend();
        float[] values = [1.5f, -2f, 0.25f, 3f];
        var w = be.UploadWeight(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()), DType.F32, new Shape(2, 2));
        var t = be.Ledger.Take();
        Assert.Equal(DType.BF16, w.DType);
        var convert = Single(t, "convert_f32_to_bf16");
        Assert.Equal((16L, 8L, 1L), (convert.BytesRead, convert.BytesWritten, convert.Launches));
        Assert.Equal(16, Single(t, "host→device").BytesWritten);
        Assert.Equal(values, be.Download(w));
    }

    [Fact]
    public void Zero_element_ops_launch_nothing()
    {
        using var be = new CountingBackend();
        var x = be.PlaceholderWeight(new Shape(0, 4), "x");
        be.Ledger.Take();
        be.Activate(x, Activation.Silu);
        be.Concat(0, x, x);
        be.RmsNorm(x, 1e-6f);
        var t = be.Ledger.Take();
        Assert.Equal(0, t.Launches);
        Assert.Equal(0, t.MemoryBoundBytes);
    }

    [Fact]
    public void Host_data_can_be_read_back_but_computed_values_cannot()
    {
        using var be = new CountingBackend();
        var x = be.Upload([1f, 2f, 3f], new Shape(3));
        Assert.Equal([1f, 2f, 3f], be.Download(x.Reshape(1, 3)));
        Assert.Equal(be.Download(be.PlaceholderWeight(new Shape(4), "a")), be.Download(be.PlaceholderWeight(new Shape(4), "a")));
        Assert.NotEqual(be.Download(be.PlaceholderWeight(new Shape(4), "a")), be.Download(be.PlaceholderWeight(new Shape(4), "b")));
        var e = Assert.Throws<NotSupportedException>(() => be.Download(be.Scale(x, 2)));
        Assert.Contains("Scale", e.Message);
    }

    [Fact]
    public void Placeholder_weights_tie_luminas_cross_attention_query_to_the_self_attention_one()
    {
        Assert.Equal("layers.3.attn1.to_q.weight", PlaceholderWeightSource.Identity("layers.3.attn2.to_q.weight"));
        Assert.Equal("layers.0.attn1.norm_q.bias", PlaceholderWeightSource.Identity("layers.0.attn2.norm_q.bias"));
        Assert.Equal("layers.0.attn2.to_k.weight", PlaceholderWeightSource.Identity("layers.0.attn2.to_k.weight"));
        Assert.Equal("transformer_blocks.1.attn2.to_q.weight", PlaceholderWeightSource.Identity("transformer_blocks.1.attn2.to_q.weight"));
    }

    /// <summary>
    /// A whole tiny forward: the counting backend's GEMM and attention FLOPs equal what the profiling decorator counts from
    /// the same forward's shapes on the CPU reference (same weights, so the same code paths).
    /// </summary>
    [Theory]
    [InlineData("sd3")]
    [InlineData("flux")]
    [InlineData("lumina")]
    public void A_tiny_forward_counts_the_flops_the_cpu_reference_runs(string backbone)
    {
        var config = TinyRealConfigs.Named(backbone);
        int batch = config.UsesCfg ? 2 : 1;
        using var cpu = new CpuBackend();
        using var profiler = new ProfilingBackend(cpu) { Recording = false };
        var reference = BenchModel.Build(config, new RandomWeightSource(5), profiler, TinyRealConfigs.Resolution, batch);
        profiler.Recording = true;
        reference.Forward();
        double flops = profiler.TotalFlops;

        using var counting = new CountingBackend();
        var model = BenchModel.Build(config, new RandomWeightSource(5), counting, TinyRealConfigs.Resolution, batch);
        counting.Ledger.Take();
        model.Forward();
        var t = counting.Ledger.Take();
        Assert.Equal(flops, t.GemmFlops + t.AttentionFlops, 6);
        Assert.True(t.Launches > 20 && t.MemoryBoundBytes > 0, $"{t.Launches} launches, {t.MemoryBoundBytes} bytes");
    }

    /// <summary>The real configurations count in well under a second each and match architectures.md §7's FLOP totals.</summary>
    [Fact]
    public void Real_configurations_at_1024_match_the_published_flop_counts()
    {
        var flux = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.FluxDev, 1024, 1));
        Assert.InRange(flux.Forward.GemmFlops / 1e12, 59.4, 59.6);       // 59.49 TF of linears + embedders
        Assert.InRange(flux.Forward.AttentionFlops / 1e12, 14.86, 14.88); // 4·S²·D × 57
        var lumina = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.LuminaNextSft, 1024, 2));
        // 12.03 TF per forward less the shared cross-attention query (43.49 GF × 24), times the CFG batch of 2; the caption's
        // to_k / to_v (0.058 TF) are computed once per generation, not in the step.
        double luminaGemm = (lumina.Forward.GemmFlops + lumina.PerGeneration.GemmFlops) / 1e12;
        Assert.InRange(luminaGemm, 2 * (12.03 - 1.044) - 0.05, 2 * (12.03 - 1.044) + 0.05);
    }

    [Fact]
    public void The_accel_mix_counts_sparse_and_skipped_steps_cheaper_than_dense_on_lumina()
    {
        var r = AccountingBenchmark.Run(new AccountingRequest(TinyRealConfigs.Lumina, TinyRealConfigs.Resolution, 2, AccelerationPreset.AccelAes));
        var kinds = r.StepKinds.ToDictionary(k => k.Kind);
        Assert.Equal(r.Steps, kinds.Values.Sum(k => k.Count));
        Assert.True(kinds[StepKind.Skip].Step.GemmFlops == 0 && kinds[StepKind.Skip].Step.Launches > 0);
        Assert.True(kinds[StepKind.Sparse].Step.GemmFlops < r.DenseStep.GemmFlops);
        Assert.True(r.MixTotal.GemmFlops < r.DenseStep.GemmFlops * r.Steps);
    }

    [Fact]
    public void The_roofline_floor_adds_compute_time_and_memory_time()
    {
        var card = new RooflineCard("test", PeakBf16Tflops: 100, DramGigabytesPerSecond: 1000, Source: "");
        var totals = new TrafficTotals([
            new TrafficClass("Linear", "gemm", TrafficKind.Gemm, 1, 1_000_000, 1_000_000, 3e12, 1),
            new TrafficClass("Attention", "attention", TrafficKind.Attention, 1, 0, 0, 1e12, 1),
            new TrafficClass("Concat", "copy2d", TrafficKind.MemoryBound, 1, 1_000_000_000, 1_000_000_000, 0, 1),
            new TrafficClass("Slice", "memcpy", TrafficKind.DeviceCopy, 1, 500_000_000, 500_000_000, 0, 0),
            new TrafficClass("Upload", "host→device", TrafficKind.HostTransfer, 1, 0, 9_000_000_000, 0, 0),
        ]);
        var floor = card.Floor(totals);
        Assert.Equal(40, floor.ComputeMilliseconds, 9);   // 4 TFLOP at 100 TFLOP/s
        Assert.Equal(3, floor.MemoryMilliseconds, 9);     // 3 GB at 1000 GB/s; GEMM operands and host copies excluded
        Assert.Equal(43, floor.Milliseconds, 9);
    }
}
