using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Diagnostics;
using AccelAes.Engine.Tensors;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// LinearOfRowsAddGatedInPlace (Fusion 6, issue 16) on the CPU emulator: the op harness's cases against the CPU reference,
/// and bit for bit what the same device's Slice then LinearAddGatedInPlace give — on gemm.cu (one fused launch per batch
/// item) and on the fake cuBLASLt (the strided batch reading the rows in place; rows off the alignment are sliced).
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaRowsGatedTests(CudaFixture fixture, ITestOutputHelper output) : IClassFixture<CudaFixture>
{
    private static CudaBackend NewBackend(bool cublasLt) =>
        new(new CudaBackendOptions { PoisonNewTensors = true, SynchronizeEachOp = true, UseCublasLt = cublasLt });

    private static Tensor Bf16(CudaBackend gpu, int seed, float magnitude, params int[] dims) =>
        gpu.ToBf16(gpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed, -magnitude, magnitude), new Shape(dims)));

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void It_passes_the_op_harness_and_holds_slice_then_gateds_bits(bool cublasLt)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        Skip.If(cublasLt && !FakeCublasLt.IsLoaded, "bit-exactness across GEMM shapes is only defined for a deterministic GEMM (the emulator's)");
        using var gpu = NewBackend(cublasLt);
        var results = OpSelfTest.RunAll(gpu, fixture.Cpu, 41, c => c.Op.StartsWith("LinearOfRowsAddGatedInPlace", StringComparison.Ordinal));
        foreach (var r in results)
            output.WriteLine(r.ToString());
        Assert.Equal(OpSelfTest.RowsGatedShapes.Length + 1, results.Count);
        Assert.All(results, r => Assert.True(r.Passed, r.ToString()));

        int seed = 100;
        foreach (var (b, s, start, count, k, n, gate, bias) in OpSelfTest.RowsGatedShapes)
        {
            var x = Bf16(gpu, ++seed, 2f, b, s, k);
            var w = Bf16(gpu, ++seed, 1f, n, k);
            var bv = bias ? Bf16(gpu, ++seed, 1f, n) : null;
            var g = gate ? Bf16(gpu, ++seed, 1f, b, n) : null;
            var inPlace = Bf16(gpu, ++seed, 2f, b, count, n);
            var sliced = Bf16(gpu, seed, 2f, b, count, n);
            gpu.LinearOfRowsAddGatedInPlace(inPlace, x, start, count, w, bv, g);
            gpu.LinearAddGatedInPlace(sliced, gpu.Slice(x, 1, start, count), w, bv, g);
            float[] expected = gpu.Download(sliced), actual = gpu.Download(inPlace);
            Assert.Equal(expected.Length, actual.Length);
            for (int i = 0; i < expected.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                    $"x[{b},{s},{k}] rows {start}…{start + count}, element {i}: {actual[i]}, Slice + LinearAddGatedInPlace gave {expected[i]}");
        }
        Assert.Equal(0, gpu.GatedResidualFallbacks);
        Assert.Empty(gpu.Warnings);
        output.WriteLine($"{gpu.GemmEngine}: bit-exact");
    }
}
