using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Tests.Benchmarks.Accounting;
using AccelAes.Engine.Tests.Models;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// Lumina's layer boundary on the device (issue 16): rmsnorm_add_tanh_gated_modulate_bf16 writes the residual exactly as
/// rmsnorm_add_tanh_gated_bf16 does and normalises it as stored, with the thread layout and reduction order of
/// rmsnorm_modulate_bf16, so the fused boundary must give the unfused kernels' bits — for the op, and for a tiny model
/// whose stack runs fused against the same step run in one-layer ranges (the unfused order).
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaLuminaResidualBoundaryTests(CudaFixture fixture) : IClassFixture<CudaFixture>
{
    [SkippableTheory]
    [InlineData(32, true, true, false)]   // Lumina's case: 16-byte vector path, weight and scale, no shift
    [InlineData(32, false, false, true)]
    [InlineData(12, true, true, true)]    // D not a multiple of 8: the scalar path
    public void The_fused_op_gives_the_bits_of_the_residual_update_then_rmsnorm_modulate(int d, bool weight, bool scale, bool shift)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        var gpu = fixture.Backend!;
        Tensor Bf16(int seed, params int[] dims) => gpu.ToBf16(gpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed, -3f, 3f), new Shape(dims)));
        var (y, w, g, w2) = (Bf16(2, 2, 5, d), Bf16(3, d), Bf16(4, 2, d), weight ? Bf16(5, d) : null);
        var (sc, sh) = (scale ? Bf16(6, 2, d) : null, shift ? Bf16(7, 2, d) : null);
        Tensor fusedX = Bf16(1, 2, 5, d), unfusedX = Bf16(1, 2, 5, d);

        Tensor fused = gpu.RmsNormAddTanhGatedThenModulate(fusedX, y, 1e-5f, w, g, 1e-6f, w2, sc, sh);
        gpu.RmsNormAddTanhGatedInPlace(unfusedX, y, 1e-5f, w, g);
        Tensor unfused = gpu.RmsNormModulate(unfusedX, 1e-6f, w2, sc, sh);

        Assert.Equal(gpu.Download(unfusedX), gpu.Download(fusedX));
        Assert.Equal(gpu.Download(unfused), gpu.Download(fused));
    }

    [SkippableFact]
    public void A_tiny_lumina_stack_with_fused_boundaries_gives_the_unfused_orders_bits()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        var gpu = fixture.Backend!;
        var model = BenchModel.Build(LuminaResidualBoundaryTests.ThreeLayers, new RandomWeightSource(5), gpu, TinyRealConfigs.Resolution, 2);
        var (fused, unfused) = LuminaResidualBoundaryTests.RunBothOrders(model);
        Assert.Equal(DType.BF16, ((CudaTensor)fused).DType); // the fused kernel's path, not the fp32 composition
        Assert.Equal(gpu.Download(unfused), gpu.Download(fused));
    }
}
