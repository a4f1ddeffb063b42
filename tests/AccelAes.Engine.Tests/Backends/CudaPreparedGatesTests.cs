using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Diagnostics;
using AccelAes.Engine.Tensors;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// Gates prepared once per block (issue 16, FLUX launches) on the CPU emulator: the op harness's PrepareGates cases against
/// the CPU reference, and bit for bit what the same device's unprepared gated projections give — on gemm.cu (nothing is
/// prepared: the fused GEMM reads the gate) and on the fake cuBLASLt (gated_epilogue_vectors_x4's vectors, each part at its
/// own offset, against gated_epilogue_vectors' per projection).
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaPreparedGatesTests(CudaFixture fixture, ITestOutputHelper output) : IClassFixture<CudaFixture>
{
    private static CudaBackend NewBackend(bool cublasLt) =>
        new(new CudaBackendOptions { PoisonNewTensors = true, SynchronizeEachOp = true, UseCublasLt = cublasLt });

    private static Tensor Bf16(CudaBackend gpu, int seed, float magnitude, params int[] dims) =>
        gpu.ToBf16(gpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed, -magnitude, magnitude), new Shape(dims)));

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void It_passes_the_op_harness_and_holds_the_unprepared_projections_bits(bool cublasLt)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        Skip.If(cublasLt && !FakeCublasLt.IsLoaded, "bit-exactness across GEMM calls is only defined for a deterministic GEMM (the emulator's)");
        using var gpu = NewBackend(cublasLt);
        var results = OpSelfTest.RunAll(gpu, fixture.Cpu, 43, c => c.Op.StartsWith("PrepareGates", StringComparison.Ordinal));
        foreach (var r in results)
            output.WriteLine(r.ToString());
        Assert.Equal(OpSelfTest.PreparedGateShapes.Length + 1, results.Count);
        Assert.All(results, r => Assert.True(r.Passed, r.ToString()));

        int seed = 200;
        foreach (var (b, s, k, n, biases, start, count) in OpSelfTest.PreparedGateShapes)
        {
            bool rows = count > 0;
            var x = Bf16(gpu, ++seed, 2f, b, s, k);
            var weights = biases.Select(_ => Bf16(gpu, ++seed, 1f, n, k)).ToArray();
            var entries = biases.Select(hasBias => (Bf16(gpu, ++seed, 1f, b, n), hasBias ? Bf16(gpu, ++seed, 1f, n) : (Tensor?)null)).ToArray();
            var prepared = gpu.PrepareGates(entries);
            for (int p = 0; p < biases.Length; p++)
            {
                var withPrepared = Bf16(gpu, ++seed, 2f, b, rows ? count : s, n);
                var unprepared = Bf16(gpu, seed, 2f, b, rows ? count : s, n);
                if (rows)
                {
                    gpu.LinearOfRowsAddPreparedGateInPlace(withPrepared, x, start, count, weights[p], prepared[p]);
                    gpu.LinearOfRowsAddGatedInPlace(unprepared, x, start, count, weights[p], entries[p].Item2, entries[p].Item1);
                }
                else
                {
                    gpu.LinearAddPreparedGateInPlace(withPrepared, x, weights[p], prepared[p]);
                    gpu.LinearAddGatedInPlace(unprepared, x, weights[p], entries[p].Item2, entries[p].Item1);
                }
                float[] expected = gpu.Download(unprepared), actual = gpu.Download(withPrepared);
                for (int i = 0; i < expected.Length; i++)
                    Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                        $"{biases.Length} gates, part {p}, element {i}: {actual[i]}, the unprepared projection gave {expected[i]}");
            }
        }
        Assert.Equal(0, gpu.GatedResidualFallbacks);
        Assert.Empty(gpu.Warnings);
        output.WriteLine($"{gpu.GemmEngine}: bit-exact");
    }
}
