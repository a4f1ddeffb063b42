using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Components;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// <c>--offload sequential</c> with a single-file transformer (FLUX.1 in BFL layout): <see cref="ComponentLoader.LoadSingleFile"/>
/// puts the converted blocks into the <see cref="BlockWeightStream"/> as a diffusers folder's load does, so they leave the
/// device and are streamed each step, and the denoise equals the all-resident one bit for bit.
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaSingleFileSequentialOffloadTests
{
    private const int DoubleBlocks = 2, SingleBlocks = 1, Steps = 2;

    [SkippableFact]
    public void A_single_file_transformers_blocks_are_streamed_with_the_all_resident_latents()
    {
        bool available = CudaDevice.Detect().IsAvailable && NativeLibraries.Load(CudaLibrary.Nvrtc).IsLoaded;
        CudaTests.SkipUnless(available, $"no GPU or no NVRTC: {CudaDevice.Detect().Reason}");
        using var gpu = new CudaBackend(new CudaBackendOptions { PoisonNewTensors = true });
        using var dir = new TempDirectory();
        string path = new BflFluxFile { Width = 128, HeadDim = 128, DoubleBlocks = DoubleBlocks, SingleBlocks = SingleBlocks }.Save(dir.File("flux.safetensors"));

        ulong before = gpu.Memory.BytesInUse;
        var resident = ComponentLoader.LoadSingleFile(path, gpu);
        ulong residentLoad = gpu.Memory.BytesInUse - before;
        float[] expected = gpu.Download(Denoise(resident, gpu));

        using var stream = gpu.CreateBlockStream();
        before = gpu.Memory.BytesInUse;
        var streamed = ComponentLoader.LoadSingleFile(path, gpu, streamBlocks: stream);
        ulong streamedLoad = gpu.Memory.BytesInUse - before;
        Assert.Equal(DoubleBlocks + SingleBlocks, stream.BlockCount);
        Assert.True(streamedLoad < residentLoad, $"streamed load holds {streamedLoad} B on the device, resident {residentLoad} B");
        float[] actual = gpu.Download(Denoise(streamed, gpu));
        Assert.Equal(expected, actual);
        Assert.True(stream.Statistics().Uploads >= Steps * (DoubleBlocks + SingleBlocks), $"{stream.Statistics().Uploads} block uploads");
    }

    /// <summary>Fixed inputs shaped for <see cref="BflFluxFile"/>'s defaults (text width 32, pooled 24, 16 packed channels); one head of 128, whose rotary split FLUX.1's is, so the config is inferred.</summary>
    private static Tensor Denoise(LoadedComponent loaded, CudaBackend gpu)
    {
        var pipeline = new FluxPipeline(((FluxTransformerComponent)loaded.Forward).Model);
        var inputs = new Dictionary<string, Tensor>
        {
            ["prompt_embeds"] = gpu.Upload(TestData.Random(5 * 32, 31), new Shape(1, 5, 32)),
            ["pooled_prompt_embeds"] = gpu.Upload(TestData.Random(24, 32), new Shape(1, 24)),
            ["latents"] = gpu.Upload(TestData.Random(16 * 16, 33), new Shape(1, 16, 16)),
        };
        return pipeline.Denoise(inputs, new DenoiseSettings
        {
            Steps = Steps, GuidanceScale = 3.5f, Scheduler = new FlowMatchEulerSchedulerConfig { Shift = 3.0, UseDynamicShifting = true }, Height = 64, Width = 64,
        });
    }
}
