using System.Runtime.InteropServices;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Models.Flux;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;
using AccelAes.Loader.Diffusers.Configs;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// <c>--offload sequential</c> on the CUDA backend (<see cref="BlockWeightStream"/>): a tiny SD3, FLUX and Lumina-Next
/// denoise with the transformer's blocks streamed from pinned host memory through two device slots gives the latents of
/// the all-resident run bit for bit; loading puts only the rest of the transformer on the device; every block
/// is uploaded each step; the steps are not graph-captured while the stream is open (graphs are on for both runs); and
/// disposing the stream gives the slots back. On the emulator its counters also show the copy stream ordered against
/// the compute stream (cuStreamWaitEvent) and the blocks' pinned bytes (cuMemHostAlloc).
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaSequentialOffloadTests(ITestOutputHelper output)
{
    private const int Steps = 3;

    private static CudaBackend Backend()
    {
        bool available = CudaDevice.Detect().IsAvailable && NativeLibraries.Load(CudaLibrary.Nvrtc).IsLoaded;
        CudaTests.SkipUnless(available, $"no GPU or no NVRTC: {CudaDevice.Detect().Reason}");
        return new CudaBackend(new CudaBackendOptions { PoisonNewTensors = true, UseGraphs = true });
    }

    /// <summary>
    /// A backbone: builds its model from a weight source and denoises fixed inputs with it. Three blocks each, so the two
    /// slots cannot hold them all and every step streams (with two, both would stay resident after the first upload).
    /// </summary>
    private sealed record Backbone(int Blocks, Func<IWeightSource, CudaBackend, Func<Tensor>> Build);

    private static Backbone Sd3() => new(3, (weights, gpu) =>
    {
        var model = new Sd3Transformer2DModel(new WeightReader(weights, gpu), new Sd3TransformerConfig
        {
            SampleSize = 16, PatchSize = 2, InChannels = 16, OutChannels = 16, NumLayers = 3, AttentionHeadDim = 16, NumAttentionHeads = 2,
            JointAttentionDim = 32, CaptionProjectionDim = 32, PooledProjectionDim = 32, PosEmbedMaxSize = 24,
        });
        var pipeline = new Sd3Pipeline(model);
        var inputs = new Dictionary<string, Tensor>
        {
            ["prompt_embeds"] = gpu.Upload(TestData.Random(7 * 32, 2), new Shape(1, 7, 32)),
            ["pooled_prompt_embeds"] = gpu.Upload(TestData.Random(32, 3), new Shape(1, 32)),
            ["negative_prompt_embeds"] = gpu.Upload(TestData.Random(7 * 32, 4), new Shape(1, 7, 32)),
            ["negative_pooled_prompt_embeds"] = gpu.Upload(TestData.Random(32, 5), new Shape(1, 32)),
            ["latents"] = gpu.Upload(TestData.Random(16 * 8 * 8, 1), new Shape(1, 16, 8, 8)),
        };
        return () => pipeline.Denoise(inputs, new DenoiseSettings { Steps = Steps, GuidanceScale = 5f, Scheduler = new FlowMatchEulerSchedulerConfig { Shift = 3.0 } });
    });

    private static Backbone Flux() => new(3, (weights, gpu) =>
    {
        var config = new FluxTransformerConfig
        {
            InChannels = 16, OutChannels = 16, NumLayers = 2, NumSingleLayers = 1, AttentionHeadDim = 8, NumAttentionHeads = 2,
            JointAttentionDim = 12, PooledProjectionDim = 10, GuidanceEmbeds = true, AxesDimsRope = [2, 2, 4],
        };
        var pipeline = new FluxPipeline(new FluxTransformer2DModel(new WeightReader(weights, gpu), config));
        var inputs = new Dictionary<string, Tensor>
        {
            ["prompt_embeds"] = gpu.Upload(TestData.Random(5 * 12, 31), new Shape(1, 5, 12)),
            ["pooled_prompt_embeds"] = gpu.Upload(TestData.Random(10, 32), new Shape(1, 10)),
            ["latents"] = gpu.Upload(TestData.Random(16 * 16, 33), new Shape(1, 16, 16)),
        };
        var settings = new DenoiseSettings
        {
            Steps = Steps, GuidanceScale = 3.5f, Scheduler = new FlowMatchEulerSchedulerConfig { Shift = 3.0, UseDynamicShifting = true }, Height = 64, Width = 64,
        };
        return () => pipeline.Denoise(inputs, settings);
    });

    private static Backbone Lumina() => new(3, (weights, gpu) =>
    {
        var pipeline = new LuminaPipeline(new LuminaNextDiT2DModel(new WeightReader(weights, gpu), TinyLuminaDenoise.Config(layers: 3)));
        var inputs = TinyLuminaDenoise.Inputs(gpu);
        return () => pipeline.Denoise(inputs, TinyLuminaDenoise.Settings(Steps));
    });

    public static TheoryData<string> Backbones => new(["sd3", "flux", "lumina-next"]);

    [SkippableTheory]
    [MemberData(nameof(Backbones))]
    public void Streamed_blocks_give_the_all_resident_latents_bit_for_bit_with_only_two_blocks_on_the_device(string name)
    {
        using var gpu = Backend();
        Backbone backbone = name switch { "sd3" => Sd3(), "flux" => Flux(), _ => Lumina() };

        // All resident, with graphs (the steps after the first are replays).
        ulong before = gpu.Memory.BytesInUse;
        var residentRun = backbone.Build(new RandomWeightSource(7), gpu);
        ulong residentLoad = gpu.Memory.BytesInUse - before;
        var graphsBefore = gpu.GraphStatistics;
        float[] resident = gpu.Download(residentRun());
        Assert.True(gpu.GraphStatistics.Captures > graphsBefore.Captures, "the resident run is captured (graphs are on)");

        var emulatorBefore = StreamCounters.Read();
        BlockStreamStatistics stats;
        ulong withStream;
        using (var stream = gpu.CreateBlockStream())
        {
            before = gpu.Memory.BytesInUse;
            var streamedRun = backbone.Build(new StreamedBlockWeightSource(new RandomWeightSource(7), stream), gpu);
            ulong streamedLoad = gpu.Memory.BytesInUse - before;
            Assert.Equal(backbone.Blocks, stream.BlockCount);
            Assert.True(streamedLoad < residentLoad, $"streamed load holds {streamedLoad} B on the device, resident {residentLoad} B");
            Assert.False(gpu.GraphsEnabled); // streamed steps run eagerly

            graphsBefore = gpu.GraphStatistics;
            float[] streamed = gpu.Download(streamedRun());
            Assert.Equal(resident, streamed);
            Assert.Equal(graphsBefore.Captures, gpu.GraphStatistics.Captures);
            Assert.Equal(graphsBefore.FailedCaptures, gpu.GraphStatistics.FailedCaptures);

            stats = stream.Statistics();
            output.WriteLine($"{name}: {stats}; resident load {residentLoad} B, streamed load {streamedLoad} B");
            // Batched CFG: one forward per step, each uploading every block once in order; the last block of the last step
            // prefetches block 0 for a next step (one upload more, part of the bytes of one forward).
            Assert.Equal(Steps * backbone.Blocks + 1, stats.Uploads);
            Assert.InRange(stats.UploadedBytes, Steps * stats.HostBytes + 1, (Steps + 1) * stats.HostBytes - 1);
            if (StreamCounters.Read() is { } emulatorAfter && emulatorBefore is { } start)
            {
                // The compute stream waits for each block's upload (once per block per forward), the copy stream for the
                // kernels leaving a slot before each upload into it (every upload after the first two).
                Assert.True(emulatorAfter.StreamWaits - start.StreamWaits >= Steps * backbone.Blocks + stats.Uploads - 2,
                    $"{emulatorAfter.StreamWaits - start.StreamWaits} stream waits for {stats.Uploads} uploads");
                // Pinned bytes allocated: the blocks' copies, plus the q / k / v parts joined on the host at load and freed then
                // (each weight copied at most twice).
                Assert.InRange(emulatorAfter.HostAllocBytes - start.HostAllocBytes, (long)stats.HostBytes, 2 * (long)stats.HostBytes);
            }
            withStream = gpu.Memory.BytesInUse;
        }
        Assert.True(withStream - gpu.Memory.BytesInUse >= 2 * stats.SlotBytes, "disposing the stream gives both slots back to the pool");
        Assert.True(gpu.GraphsEnabled); // the stream is closed: graphs again
    }

    /// <summary>
    /// Weights of one block joined at load (what <c>FusedQkvProjection</c> does with q / k / v) are joined on the host, in
    /// the stream: the joined weight holds the parts' values in order, the parts leave the block (its pinned bytes are
    /// the joined weight's alone), and reading a part afterwards is an error that says it was joined.
    /// </summary>
    [SkippableFact]
    public void Weights_of_a_block_joined_at_load_are_joined_on_the_host_and_the_parts_leave_the_block()
    {
        using var gpu = Backend();
        using var stream = gpu.CreateBlockStream();
        var source = new StreamedBlockWeightSource(new RandomWeightSource(7), stream);
        var q = source.Load("transformer_blocks.0.attn.to_q.weight", new Shape(4, 8), gpu);
        var k = source.Load("transformer_blocks.0.attn.to_k.weight", new Shape(2, 8), gpu);
        float[] expected = [.. gpu.Download(q), .. gpu.Download(k)];
        ulong partBytes = stream.HostBytes;

        var joined = gpu.Concat(0, q, k);
        Assert.Equal(expected, gpu.Download(joined));
        Assert.Equal(partBytes, stream.HostBytes); // the parts' copies were freed: only the joined one is held
        Assert.Equal(1, stream.BlockCount);
        var e = Assert.Throws<InvalidOperationException>(() => gpu.Download(q));
        Assert.Contains("joined", e.Message);
    }

    /// <summary>The emulator's stream counters (fake_cuda_stream_counters), or null on a real driver.</summary>
    private sealed record StreamCounters(long StreamWaits, long HostAllocBytes)
    {
        public static unsafe StreamCounters? Read()
        {
            var driver = NativeLibraries.Load(CudaLibrary.Driver);
            if (!driver.IsLoaded || !NativeLibrary.TryGetExport(driver.Handle, "fake_cuda_stream_counters", out var export))
                return null;
            var c = new long[2];
            fixed (long* p = c)
                ((delegate* unmanaged<long*, void>)export)(p);
            return new StreamCounters(c[0], c[1]);
        }
    }
}
