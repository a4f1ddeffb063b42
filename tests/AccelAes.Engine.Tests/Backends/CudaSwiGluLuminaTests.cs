using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// A tiny Lumina-Next denoise (4 steps, CFG) on the CUDA backend with each <c>--swiglu-gemm</c> value: every feed-forward
/// takes the path the knob names (the counters fail if it were ignored); fused and split agree within what their GEMMs'
/// accumulation orders allow; fused with CUDA graphs is bit-identical to fused op by op (the kernel is captured).
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaSwiGluLuminaTests(CudaFixture fixture, ITestOutputHelper output) : IClassFixture<CudaFixture>
{
    private static float[] Denoise(CudaBackend gpu)
    {
        var pipeline = new LuminaPipeline(new LuminaNextDiT2DModel(new WeightReader(new RandomWeightSource(17), gpu), TinyLuminaDenoise.Config()));
        var inputs = TinyLuminaDenoise.Inputs(gpu);
        return gpu.Download(pipeline.Denoise(inputs, TinyLuminaDenoise.Settings(4)));
    }

    private static CudaBackend NewBackend(SwiGluGemm mode, bool graphs = false) =>
        new(new CudaBackendOptions { PoisonNewTensors = true, UseGraphs = graphs, SwiGluGemm = mode });

    [SkippableFact]
    public void Each_knob_value_runs_its_path_and_fused_agrees_with_split()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        using var fused = NewBackend(SwiGluGemm.Fused);
        using var split = NewBackend(SwiGluGemm.Split);
        float[] a = Denoise(fused), b = Denoise(split);
        // 2 layers × 4 steps, one CFG-batched forward each.
        Assert.Equal((8L, 0L), (fused.FusedSwiGluCount, fused.SplitSwiGluCount));
        Assert.Equal((0L, 8L), (split.FusedSwiGluCount, split.SplitSwiGluCount));
        double maxDiff = a.Zip(b, (x, y) => Math.Abs(x - y)).Max(), scale = b.Max(Math.Abs);
        output.WriteLine($"fused vs split: max |Δ| {maxDiff:G4} of max |latent| {scale:G4}");
        Assert.True(maxDiff <= 0.02 * Math.Max(1, scale), $"fused and split latents differ by {maxDiff}");
    }

    [SkippableFact]
    public void The_fused_kernel_is_captured_with_the_step_and_replays_bit_identically()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        using var eager = NewBackend(SwiGluGemm.Fused);
        using var graphs = NewBackend(SwiGluGemm.Fused, graphs: true);
        Assert.Equal(Denoise(eager), Denoise(graphs));
        Assert.True(graphs.GraphStatistics.Replays >= 2, $"{graphs.GraphStatistics}");
        Assert.Equal(0, graphs.GraphStatistics.FailedCaptures);
    }
}
