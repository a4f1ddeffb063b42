using System.Runtime.InteropServices;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Diagnostics;
using AccelAes.Engine.Tensors;
using Xunit.Abstractions;
using static AccelAes.Engine.Tests.Cuda.CudaTestTensors;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// Fusion 11 of issue 16 on the CUDA backend: LinearSwiGlu through gemm_swiglu.cu (tensor cores, SiLU·mul epilogue) and
/// through the split path (cuBLASLt or gemm.cu, then silu_mul). The op harness's bf16 rule for each knob value; the fused
/// kernel's bits equal the split path's where every sum is exact in fp32 (then the order of accumulation cannot matter and
/// both round gate and up the same way); the knob obeyed (counters that fail if it were ignored); auto's per-shape
/// decision made once and reused, never made inside a graph capture; the split path for what the kernel cannot serve.
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaSwiGluTests(CudaFixture fixture, ITestOutputHelper output) : IClassFixture<CudaFixture>
{
    private static CudaBackend NewBackend(SwiGluGemm mode, bool useCublasLt = true) =>
        new(new CudaBackendOptions { PoisonNewTensors = true, SynchronizeEachOp = true, UseCublasLt = useCublasLt, SwiGluGemm = mode });

    /// <summary>Values k/8 for k in −8..8: every product a multiple of 2⁻⁶, every sum of a few hundred of them exact in fp32.</summary>
    private static Tensor Eighths(CudaBackend gpu, int seed, params int[] dims)
    {
        var shape = new Shape(dims);
        var rng = new Random(seed);
        var values = new float[shape.ElementCount];
        for (int i = 0; i < values.Length; i++) values[i] = rng.Next(-8, 9) / 8f;
        return gpu.UploadWeight(MemoryMarshal.AsBytes(values.AsSpan()), DType.F32, shape);
    }

    private static float[] Run(CudaBackend gpu, int[] xDims, int f, int seed)
    {
        using var x = Eighths(gpu, seed, xDims);
        using var w = Eighths(gpu, seed + 1, 2 * f, xDims[^1]);
        using var y = gpu.LinearSwiGlu(x, w);
        Assert.Equal([.. xDims[..^1], f], y.Shape.ToArray());
        return gpu.Download(y);
    }

    public static TheoryData<SwiGluGemm, bool> Knobs => new()
    {
        { SwiGluGemm.Fused, true }, { SwiGluGemm.Split, true }, { SwiGluGemm.Auto, true }, { SwiGluGemm.Auto, false }, { SwiGluGemm.Split, false },
    };

    [SkippableTheory]
    [MemberData(nameof(Knobs))]
    public void Every_knob_value_passes_the_op_harness(SwiGluGemm mode, bool useCublasLt)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        using var gpu = NewBackend(mode, useCublasLt);
        var results = OpSelfTest.RunAll(gpu, fixture.Cpu, 61, c => c.Op == "LinearSwiGlu");
        foreach (var r in results)
            output.WriteLine(r.ToString());
        Assert.Equal(OpSelfTest.SwiGluShapes.Length + 2, results.Count);
        Assert.All(results, r => Assert.True(r.Passed, r.ToString()));
        output.WriteLine($"{mode}, cuBLASLt {useCublasLt}: fused {gpu.FusedSwiGluCount}, split {gpu.SplitSwiGluCount}");
    }

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_fused_kernel_gives_the_split_paths_bits_where_every_sum_is_exact(bool useCublasLt)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        using var fused = NewBackend(SwiGluGemm.Fused, useCublasLt);
        using var split = NewBackend(SwiGluGemm.Split, useCublasLt);
        int calls = 0;
        foreach (var (xDims, f) in new (int[], int)[] { ([37, 40], 24), ([1, 129, 72], 70), ([2, 5, 8], 3), ([3, 33, 160], 65) })
        {
            int seed = 10 * ++calls;
            AssertSameBits(Run(split, xDims, f, seed), Run(fused, xDims, f, seed), $"x[{string.Join(",", xDims)}] F {f}");
        }
        // The knob is obeyed: each backend ran every call on its own path (this fails if either ignored it).
        Assert.Equal((calls, 0L), (fused.FusedSwiGluCount, fused.SplitSwiGluCount));
        Assert.Equal((0L, (long)calls), (split.FusedSwiGluCount, split.SplitSwiGluCount));
        Assert.Empty(fused.SwiGluFallbacks);
    }

    [SkippableFact]
    public void Auto_with_cublaslt_times_each_shape_once_and_keeps_its_choice()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        using var gpu = NewBackend(SwiGluGemm.Auto);
        Skip.If(!gpu.GemmEngine.StartsWith("cuBLASLt", StringComparison.Ordinal), "needs cuBLASLt (the emulator's fake or the real one)");
        Run(gpu, [9, 40], 24, 1);
        var first = Assert.Single(gpu.SwiGluDecisions);
        output.WriteLine(first.Describe());
        Assert.Equal((9, 40, 24), (first.M, first.K, first.F));
        Assert.Equal(first.FusedMs <= first.SplitMs, first.Fused);
        Run(gpu, [9, 40], 24, 2);
        Assert.Same(first, Assert.Single(gpu.SwiGluDecisions)); // the same shape: reused, not timed again
        var (fused, split) = first.Fused ? (2L, 0L) : (0L, 2L);
        Assert.Equal((fused, split), (gpu.FusedSwiGluCount, gpu.SplitSwiGluCount));
        Run(gpu, [3, 3, 40], 24, 3); // the same rows, K and F in another batch layout: still the same shape
        Assert.Single(gpu.SwiGluDecisions);
        Run(gpu, [10, 40], 24, 4);
        Assert.Equal(2, gpu.SwiGluDecisions.Count);
    }

    [SkippableFact]
    public void Auto_without_cublaslt_runs_the_fused_kernel_without_timing()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        using var gpu = NewBackend(SwiGluGemm.Auto, useCublasLt: false);
        Run(gpu, [9, 40], 24, 1);
        Assert.Equal((1L, 0L), (gpu.FusedSwiGluCount, gpu.SplitSwiGluCount));
        Assert.Empty(gpu.SwiGluDecisions);
    }

    [SkippableFact]
    public void Auto_inside_a_capture_with_no_decision_runs_the_split_path_and_decides_nothing()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        using var gpu = new CudaBackend(new CudaBackendOptions { SwiGluGemm = SwiGluGemm.Auto });
        Skip.If(!gpu.GemmEngine.StartsWith("cuBLASLt", StringComparison.Ordinal), "needs cuBLASLt (the emulator's fake or the real one)");
        using var x = Eighths(gpu, 1, 9, 40);
        using var w = Eighths(gpu, 2, 48, 40);
        // A warm pool for the split path's output and [9, 48] GEMM output (a capture allocates nothing fresh) without
        // running LinearSwiGlu eagerly, which would decide.
        foreach (var shape in new[] { new Shape(9, 24), new Shape(9, 48) })
            gpu.Allocate(shape).Dispose();
        using (var graph = gpu.Capture("swiglu", () => gpu.LinearSwiGlu(x, w)))
        {
            graph.Launch();
            gpu.Synchronize();
        }
        Assert.Empty(gpu.SwiGluDecisions);
        Assert.Equal((0L, 1L), (gpu.FusedSwiGluCount, gpu.SplitSwiGluCount));
    }

    /// <summary>
    /// The kernel's row strides: x read as rows of a wider buffer (K 40 of 56 columns) and out written into rows of a wider
    /// one (F 70 of 73 columns: odd, so every store is one bf16) give the dense call's bits, and the columns past F are
    /// left as they were.
    /// </summary>
    [SkippableFact]
    public void The_kernel_reads_and_writes_row_views_with_the_dense_calls_bits()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        using var gpu = NewBackend(SwiGluGemm.Fused);
        const int m = 131, k = 40, ldx = 56, f = 70, ldo = 73;
        using var wide = Eighths(gpu, 7, m, ldx);
        using var w = Eighths(gpu, 8, 2 * f, k);
        using var x = gpu.Slice(wide, 1, 0, k); // the same rows, dense
        float[] dense = gpu.Download(gpu.LinearSwiGlu(x, w));
        var before = new float[m * ldo];
        for (int i = 0; i < before.Length; i++) before[i] = i % 7 - 3;
        using var output = gpu.UploadBf16(before, new Shape(m, ldo)); // small integers: exact in bf16
        gpu.LinearSwiGluRows(wide, ldx, w, output, ldo);
        float[] got = gpu.Download(output);
        for (int r = 0; r < m; r++)
            for (int j = 0; j < ldo; j++)
            {
                float expected = j < f ? dense[r * f + j] : before[r * ldo + j];
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(got[r * ldo + j]),
                    $"row {r}, column {j}: {got[r * ldo + j]}, expected {expected}");
            }
    }

    [SkippableFact]
    public void What_the_kernel_cannot_serve_runs_the_split_path_and_is_counted()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        using var fused = NewBackend(SwiGluGemm.Fused);
        using var split = NewBackend(SwiGluGemm.Split);
        AssertSameBits(Run(split, [7, 20], 10, 5), Run(fused, [7, 20], 10, 5), "K 20");
        Assert.Equal((0L, 1L), (fused.FusedSwiGluCount, fused.SplitSwiGluCount));
        Assert.Equal(1L, fused.SwiGluFallbacks["K not a multiple of 8"]);
        Assert.Empty(split.SwiGluFallbacks); // a split run by choice is no fallback
    }
}
