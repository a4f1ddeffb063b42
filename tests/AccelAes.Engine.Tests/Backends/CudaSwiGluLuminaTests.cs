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
        var config = new LuminaNextDiTConfig
        {
            SampleSize = 16, PatchSize = 2, InChannels = 4, HiddenSize = 32, NumLayers = 2, NumAttentionHeads = 4, NumKvHeads = 2,
            MultipleOf = 16, LearnSigma = true, QkNorm = true, CrossAttentionDim = 12,
        };
        var pipeline = new LuminaPipeline(new LuminaNextDiT2DModel(new WeightReader(new RandomWeightSource(17), gpu), config));
        var inputs = new Dictionary<string, Tensor>
        {
            ["prompt_embeds"] = gpu.Upload(TestData.Random(6 * 12, 42), new Shape(1, 6, 12)),
            ["prompt_attention_mask"] = gpu.Upload([1, 1, 1, 1, 1, 0], new Shape(1, 6)),
            ["negative_prompt_embeds"] = gpu.Upload(TestData.Random(6 * 12, 43), new Shape(1, 6, 12)),
            ["negative_prompt_attention_mask"] = gpu.Upload([1, 1, 0, 0, 0, 0], new Shape(1, 6)),
            ["latents"] = gpu.Upload(TestData.Random(4 * 8 * 8, 41, -2f, 2f), new Shape(1, 4, 8, 8)),
        };
        var settings = new DenoiseSettings { Steps = 4, GuidanceScale = 4f, Scheduler = new FlowMatchEulerSchedulerConfig() };
        return gpu.Download(pipeline.Denoise(inputs, settings));
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
