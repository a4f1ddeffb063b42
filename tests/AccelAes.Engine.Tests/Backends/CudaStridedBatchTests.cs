using System.Runtime.InteropServices;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;
using Xunit.Abstractions;
using static AccelAes.Engine.Tests.Cuda.CudaTestTensors;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// Fusion 10 of issue 16: LinearIntoRows over a row range of a batch is one launch per call — cuBLASLt's strided-batch
/// matmul (the emulator's deterministic fake) or gemm.cu's <c>gemm_bf16_batched</c> — holding, bit for bit, what one
/// Linear per batch item gives; and when cuBLASLt has no algorithm for the batched layout, one GEMM per item, reported once
/// per shape and counted per call.
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaStridedBatchTests(CudaFixture fixture, ITestOutputHelper output) : IClassFixture<CudaFixture>
{
    private sealed record Streams(Tensor Image, Tensor Text, Tensor W0, Tensor B0, Tensor W1);

    /// <summary>B 2: an image stream of 37 rows at row 0 and a text stream of 5 at row 37 of a [2, 42, N] buffer, K = k.</summary>
    private static Streams MakeStreams(CudaBackend gpu, int n, int k) =>
        new(Bf16(gpu, 1, 2, 37, k), Bf16(gpu, 2, 2, 5, k), Bf16(gpu, 3, n, k), Bf16(gpu, 4, n), Bf16(gpu, 5, n, k));

    /// <summary>Both streams into a fresh buffer; returns it and the driver launches the two calls made (null off the emulator).</summary>
    private static (Tensor Buffer, long? Launches) FillPacked(CudaBackend gpu, Streams s, int n)
    {
        var buffer = gpu.Allocate(new Shape(2, 42, n));
        gpu.Synchronize();
        var before = EmulatorCounters.Read();
        gpu.LinearIntoRows(buffer, 0, s.Image, s.W0, s.B0);
        gpu.LinearIntoRows(buffer, 37, s.Text, s.W1, null);
        gpu.Synchronize();
        return (buffer, before is null ? null : EmulatorCounters.Read()!.Launches - before.Launches);
    }

    /// <summary>The per-item path: one Linear per batch item and stream, joined along the sequence, then the items.</summary>
    private static float[] PerItem(CudaBackend gpu, Streams s)
    {
        var items = Enumerable.Range(0, 2).Select(b => gpu.Concat(1,
            gpu.Linear(gpu.Slice(s.Image, 0, b, 1), s.W0, s.B0), gpu.Linear(gpu.Slice(s.Text, 0, b, 1), s.W1, null))).ToArray();
        return gpu.Download(gpu.Concat(0, items));
    }

    private static CudaBackend NewBackend(bool cublasLt) =>
        new(new CudaBackendOptions { PoisonNewTensors = true, SynchronizeEachOp = true, UseCublasLt = cublasLt, UseGraphs = false });

    /// <summary>
    /// N = K = 128: every row start, x's item stride (37·128 and 5·128 elements) and the buffer's (42·128) keep 256-byte
    /// alignment, so cuBLASLt takes each stream as one strided-batch matmul; without cuBLASLt gemm.cu's batched entry.
    /// N 24, K 40: rows off the alignment — gemm.cu's batched entry although cuBLASLt is there. One launch per call always.
    /// </summary>
    [SkippableTheory]
    [InlineData(true, 128, 128, 2)]
    [InlineData(false, 128, 128, 0)]
    [InlineData(true, 24, 40, 0)]
    public void One_launch_per_stream_gives_the_bits_of_one_linear_per_item(bool cublasLt, int n, int k, int matmuls)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        Skip.If(cublasLt && !FakeCublasLt.IsLoaded, "bit-exactness across batch layouts is only defined for a deterministic GEMM (the emulator's)");
        using var knobs = cublasLt ? FakeCublasLt.Configure() : null;
        using var gpu = NewBackend(cublasLt);
        var s = MakeStreams(gpu, n, k);
        var (buffer, launches) = FillPacked(gpu, s, n);
        output.WriteLine($"{gpu.GemmEngine} N{n} K{k}: {launches?.ToString() ?? "?"} launches");
        if (cublasLt)
            Assert.Equal(matmuls, FakeCublasLt.Counters().Matmuls);
        if (launches is { } count)
            Assert.Equal(2, count);
        AssertSameBits(PerItem(gpu, s), gpu.Download(buffer), $"LinearIntoRows N{n} K{k} on {gpu.GemmEngine}");
        Assert.Equal(0, gpu.LinearIntoRowsFallbacks);
        Assert.DoesNotContain(gpu.Warnings, w => w.StartsWith("Strided-batch fallback", StringComparison.Ordinal));
    }

    /// <summary>
    /// cuBLASLt with no algorithm for a strided batch (the fake's FAKE_CUBLASLT_NO_BATCH): each stream's shape is reported
    /// once although it runs twice, every call is counted, and each runs one cuBLASLt GEMM per item with the same bits.
    /// </summary>
    [SkippableFact]
    public void Without_a_batched_algorithm_it_runs_one_gemm_per_item_reported_once_per_shape_and_counted_per_call()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        Skip.IfNot(FakeCublasLt.IsLoaded, "needs the emulator's fake cuBLASLt (its no-batch knob)");
        using var knobs = FakeCublasLt.Configure();
        SetNoBatch(1);
        using var gpu = NewBackend(cublasLt: true);
        var s = MakeStreams(gpu, 128, 128);
        var expected = PerItem(gpu, s);
        long before = FakeCublasLt.Counters().Matmuls;
        for (int run = 0; run < 2; run++)
        {
            var (buffer, launches) = FillPacked(gpu, s, 128);
            AssertSameBits(expected, gpu.Download(buffer), $"LinearIntoRows per-item fallback, run {run}");
            if (launches is { } count)
                Assert.Equal(4, count);
        }
        foreach (var w in gpu.Warnings)
            output.WriteLine(w);
        // Two streams × two items × two runs, each item a cuBLASLt matmul of its own.
        Assert.Equal(8, FakeCublasLt.Counters().Matmuls - before);
        Assert.Equal(2, gpu.Warnings.Count(w => w.StartsWith("Strided-batch fallback: LinearIntoRows", StringComparison.Ordinal)
                                             && w.Contains("batch 2", StringComparison.Ordinal)
                                             && w.Contains("heuristic offered no algorithm", StringComparison.Ordinal)));
        Assert.Equal(4, gpu.LinearIntoRowsFallbacks);
    }

    /// <summary>FAKE_CUBLASLT_NO_BATCH from the test (fake_cublaslt_configure, which the knobs' disposal calls, resets it).</summary>
    private static unsafe void SetNoBatch(int value)
    {
        var library = NativeLibraries.Load(CudaLibrary.CublasLt);
        nint fn = 0;
        Assert.True(library.IsLoaded && NativeLibrary.TryGetExport(library.Handle, "fake_cublaslt_set_no_batch", out fn),
            "the fake cuBLASLt exports fake_cublaslt_set_no_batch");
        ((delegate* unmanaged<int, void>)fn)(value);
    }
}
