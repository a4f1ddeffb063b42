using System.Runtime.InteropServices;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Models.Flux;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;
using AccelAes.Loader.Diffusers.Configs;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// CUDA graphs over denoising steps (<see cref="StepGraph"/>, <see cref="CudaBackend.Capture"/>): tiny SD3, FLUX and
/// Lumina runs with graphs on are bit-identical to the same runs op by op, capture once and replay every later
/// step, re-capture when the latents' shape changes, and fall back (with a warning naming the op) when an op
/// needs the host during a capture. On the CPU emulator the driver's counters also show that the steady steps
/// queue no synchronisation, no cuMemAlloc and no pageable copy. Skipped where there is no GPU (or emulator).
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaGraphTests(ITestOutputHelper output)
{
    private static CudaBackend? NewBackend()
    {
        if (!CudaDevice.Detect().IsAvailable || !NativeLibraries.Load(CudaLibrary.Nvrtc).IsLoaded)
            return null;
        return new CudaBackend(new CudaBackendOptions { PoisonNewTensors = true });
    }

    private static CudaBackend Backend()
    {
        var be = NewBackend();
        CudaTests.SkipUnless(be is not null, $"no GPU or no NVRTC: {CudaDevice.Detect().Reason}");
        return be!;
    }

    /// <summary>Runs <paramref name="denoise"/> op by op, then with graphs; returns both final latents and the graph counters of the second run.</summary>
    private (float[] Eager, float[] Graphs, GraphStatistics Stats) RunBoth(CudaBackend gpu, Func<Tensor> denoise)
    {
        gpu.UseGraphs = false;
        float[] eager = gpu.Download(denoise());
        var before = gpu.GraphStatistics;
        gpu.UseGraphs = true;
        float[] graphs = gpu.Download(denoise());
        var after = gpu.GraphStatistics;
        var stats = new GraphStatistics(after.Captures - before.Captures, after.Replays - before.Replays,
            after.FailedCaptures - before.FailedCaptures, after.LastFailure);
        output.WriteLine($"{stats}; pool {gpu.Memory}");
        return (eager, graphs, stats);
    }

    private static Sd3Transformer2DModel Sd3Model(IBackend be) => new(new WeightReader(new RandomWeightSource(7), be), new Sd3TransformerConfig
    {
        SampleSize = 16, PatchSize = 2, InChannels = 16, OutChannels = 16, NumLayers = 2, AttentionHeadDim = 16, NumAttentionHeads = 2,
        JointAttentionDim = 32, CaptionProjectionDim = 32, PooledProjectionDim = 32, PosEmbedMaxSize = 24,
    });

    private static Dictionary<string, Tensor> Sd3Inputs(IBackend be, int height = 8, int width = 8) => new()
    {
        ["prompt_embeds"] = be.Upload(TestData.Random(7 * 32, 2), new Shape(1, 7, 32)),
        ["pooled_prompt_embeds"] = be.Upload(TestData.Random(32, 3), new Shape(1, 32)),
        ["negative_prompt_embeds"] = be.Upload(TestData.Random(7 * 32, 4), new Shape(1, 7, 32)),
        ["negative_pooled_prompt_embeds"] = be.Upload(TestData.Random(32, 5), new Shape(1, 32)),
        ["latents"] = be.Upload(TestData.Random(16 * height * width, 1), new Shape(1, 16, height, width)),
    };

    private static DenoiseSettings Settings(int steps, float guidance) => new()
    {
        Steps = steps, GuidanceScale = guidance, Scheduler = new FlowMatchEulerSchedulerConfig { Shift = 3.0 },
    };

    [SkippableFact]
    public void Sd3_denoise_with_graphs_is_bit_identical_captures_once_and_replays_every_later_step()
    {
        using var gpu = Backend();
        var pipeline = new Sd3Pipeline(Sd3Model(gpu));
        var inputs = Sd3Inputs(gpu);
        const int steps = 5;
        var (eager, graphs, stats) = RunBoth(gpu, () => pipeline.Denoise(inputs, Settings(steps, 5f)));
        Assert.Equal(eager, graphs);
        Assert.Equal(1, stats.Captures);            // step 2 (step 1 warms the pool and compiles)
        Assert.Equal(steps - 1, stats.Replays);     // steps 2..5
        Assert.Equal(0, stats.FailedCaptures);
    }

    [SkippableFact]
    public void Flux_denoise_with_graphs_is_bit_identical_and_replays()
    {
        using var gpu = Backend();
        var config = new FluxTransformerConfig
        {
            InChannels = 16, OutChannels = 16, NumLayers = 2, NumSingleLayers = 1, AttentionHeadDim = 8, NumAttentionHeads = 2,
            JointAttentionDim = 12, PooledProjectionDim = 10, GuidanceEmbeds = true, AxesDimsRope = [2, 2, 4],
        };
        var pipeline = new FluxPipeline(new FluxTransformer2DModel(new WeightReader(new RandomWeightSource(21), gpu), config)) { TrueCfgScale = 2f };
        var inputs = new Dictionary<string, Tensor>
        {
            ["prompt_embeds"] = gpu.Upload(TestData.Random(5 * 12, 31), new Shape(1, 5, 12)),
            ["pooled_prompt_embeds"] = gpu.Upload(TestData.Random(10, 32), new Shape(1, 10)),
            ["negative_prompt_embeds"] = gpu.Upload(TestData.Random(5 * 12, 34), new Shape(1, 5, 12)),
            ["negative_pooled_prompt_embeds"] = gpu.Upload(TestData.Random(10, 35), new Shape(1, 10)),
            ["latents"] = gpu.Upload(TestData.Random(16 * 16, 33), new Shape(1, 16, 16)), // packed: a 4×4 token grid
        };
        var settings = new DenoiseSettings
        {
            Steps = 4, GuidanceScale = 3.5f, Scheduler = new FlowMatchEulerSchedulerConfig { Shift = 3.0, UseDynamicShifting = true },
            Height = 64, Width = 64,
        };
        var (eager, graphs, stats) = RunBoth(gpu, () => pipeline.Denoise(inputs, settings));
        Assert.Equal(eager, graphs);
        Assert.Equal(1, stats.Captures);
        Assert.Equal(3, stats.Replays);
    }

    [SkippableFact]
    public void Lumina_denoise_with_graphs_is_bit_identical_and_replays()
    {
        using var gpu = Backend();
        var pipeline = new LuminaPipeline(new LuminaNextDiT2DModel(new WeightReader(new RandomWeightSource(17), gpu), TinyLuminaDenoise.Config()));
        var inputs = TinyLuminaDenoise.Inputs(gpu);
        var settings = TinyLuminaDenoise.Settings(4);
        var (eager, graphs, stats) = RunBoth(gpu, () => pipeline.Denoise(inputs, settings));
        Assert.Equal(eager, graphs);
        // One capture, unless the RoPE scaling crosses the watershed (a new table: a second key, warmed then captured).
        Assert.InRange(stats.Captures, 1, 2);
        Assert.True(stats.Replays >= 2, $"{stats.Replays} replays");
        Assert.Equal(0, stats.FailedCaptures);
    }

    /// <summary>
    /// An AccelAes run (AesMask at step 2, cache fill, SkipSparse steps, StepCache skips, spatial CFG): dense and sparse
    /// forwards are graphs (the mask-capture and cache-fill forwards run eagerly), and the run is bit-identical to the
    /// same run op by op.
    /// </summary>
    [SkippableFact]
    public void Sd3_accelerated_run_with_graphs_is_bit_identical()
    {
        using var gpu = Backend();
        var model = Sd3Model(gpu);
        var x = Sd3Inputs(gpu, 8, 10);
        var cond = new Sd3Conditioning(x["prompt_embeds"], x["pooled_prompt_embeds"], x["negative_prompt_embeds"], x["negative_pooled_prompt_embeds"]);
        var sigmas = new FlowMatchEulerScheduler(new FlowMatchEulerSchedulerConfig { Shift = 3.0 }).SetTimesteps(12);
        var options = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Sd3) with
        {
            Steps = 12, GuidanceScale = 5, MaskStep = 2, Warmup = 2, SkipSparse = true, SpatialCfg = true, StdThreshold = 0.0,
        };
        AcceleratedRunReport? report = null;
        var (eager, graphs, stats) = RunBoth(gpu, () =>
        {
            using var denoiser = new Sd3Denoiser(model, cond, 5f);
            Tensor latents = gpu.Copy(x["latents"]);
            report = AcceleratedSampling.Run(latents, sigmas, options,
                new AccelerationGeometry(4, 5, 8, 10, model.BlockCount), denoiser, [0f, 1f, 1f, 0.5f, 0f, 1f, 0.2f]);
            return latents;
        });
        output.WriteLine($"schedule: {string.Join(" ", Enumerable.Range(0, 12).Select(i => report!.Schedule[i].Kind))}");
        Assert.True(report!.SparseForwards > 0, "the run has sparse steps");
        Assert.Equal(eager, graphs);
        Assert.Equal(2, stats.Captures); // the dense steps (0–1) and the sparse steps (from the second one on)
        Assert.Equal(0, stats.FailedCaptures);
    }

    /// <summary>
    /// The same for FLUX: its sparse forwards gather the focus rows' rotary table and index the joined sequence, with
    /// index lists uploaded once per focus set (<see cref="SparseForward.DerivedIndices"/>), so they are graphs too.
    /// </summary>
    [SkippableFact]
    public void Flux_accelerated_run_with_graphs_is_bit_identical_and_captures_the_sparse_steps()
    {
        using var gpu = Backend();
        const int grid = 6, tokens = grid * grid;
        var config = new FluxTransformerConfig
        {
            InChannels = 16, OutChannels = 16, NumLayers = 2, NumSingleLayers = 1, AttentionHeadDim = 8, NumAttentionHeads = 2,
            JointAttentionDim = 12, PooledProjectionDim = 10, GuidanceEmbeds = true, AxesDimsRope = [2, 2, 4],
        };
        var model = new FluxTransformer2DModel(new WeightReader(new RandomWeightSource(21), gpu), config);
        var cond = new FluxConditioning(gpu.Upload(TestData.Random(5 * 12, 31), new Shape(1, 5, 12)), gpu.Upload(TestData.Random(10, 32), new Shape(1, 10)));
        Tensor initial = gpu.Upload(TestData.Random(tokens * 16, 33), new Shape(1, tokens, 16));
        var sigmas = FluxPipeline.Schedule(12, tokens, new FlowMatchEulerSchedulerConfig { Shift = 3.0, UseDynamicShifting = true });
        var options = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Flux) with
        {
            Steps = 12, GuidanceScale = 3.5, MaskStep = 2, Warmup = 2, SkipSparse = true, StdThreshold = 0.0,
        };
        AcceleratedRunReport? report = null;
        var (eager, graphs, stats) = RunBoth(gpu, () =>
        {
            using var denoiser = new FluxDenoiser(model, cond, grid, grid, 3.5f);
            Tensor latents = gpu.Copy(initial);
            report = AcceleratedSampling.Run(latents, sigmas, options,
                new AccelerationGeometry(grid, grid, 2 * grid, 2 * grid, model.DoubleBlockCount), denoiser, [0f, 1f, 1f, 0.5f, 0f]);
            return latents;
        });
        output.WriteLine($"schedule: {string.Join(" ", Enumerable.Range(0, 12).Select(i => report!.Schedule[i].Kind))}");
        Assert.True(report!.SparseForwards > 1, $"{report.SparseForwards} sparse forwards");
        Assert.False(report.Mask!.Fallback);
        Assert.Equal(eager, graphs);
        Assert.Equal(2, stats.Captures); // the dense steps and the sparse steps
        Assert.Equal(0, stats.FailedCaptures);
    }

    [SkippableFact]
    public void A_new_latent_shape_is_captured_anew_and_still_matches_the_eager_run()
    {
        using var gpu = Backend();
        var model = Sd3Model(gpu);
        var a = Sd3Inputs(gpu, 8, 8);
        var b = Sd3Inputs(gpu, 8, 12);
        var conditioning = new Sd3Conditioning(a["prompt_embeds"], a["pooled_prompt_embeds"], a["negative_prompt_embeds"], a["negative_pooled_prompt_embeds"]);
        var schedule = new FlowMatchEulerScheduler(new FlowMatchEulerSchedulerConfig { Shift = 3.0 }).SetTimesteps(3);
        float[] Run(Sd3Denoiser denoiser, Tensor initial)
        {
            Tensor latents = gpu.Copy(initial);
            DenoiseLoop.Run(latents, schedule, denoiser);
            return gpu.Download(latents);
        }
        gpu.UseGraphs = false;
        float[] eagerA, eagerB;
        using (var d = new Sd3Denoiser(model, conditioning, 5f))
            (eagerA, eagerB) = (Run(d, a["latents"]), Run(d, b["latents"]));
        gpu.UseGraphs = true;
        long captures = gpu.GraphStatistics.Captures;
        using (var d = new Sd3Denoiser(model, conditioning, 5f))
        {
            Assert.Equal(eagerA, Run(d, a["latents"]));
            Assert.Equal(captures + 1, gpu.GraphStatistics.Captures);
            Assert.Equal(eagerB, Run(d, b["latents"]));
            Assert.Equal(captures + 2, gpu.GraphStatistics.Captures);
        }
    }

    [SkippableFact]
    public void An_op_that_needs_the_host_during_capture_is_named_and_the_step_runs_eagerly()
    {
        using var gpu = Backend();
        using var x = gpu.UploadBf16(TestData.Random(64, 9), new Shape(8, 8));
        // A cold pool is refused first: the capture may not cuMemAlloc.
        var cold = Assert.Throws<GraphCaptureException>(() => gpu.Capture("cold", () => gpu.Scale(x, 2f)));
        Assert.Contains("fresh device memory", cold.Message);
        gpu.Scale(x, 2f).Dispose(); // warm: one block of that size cached
        var e = Assert.Throws<GraphCaptureException>(() => gpu.Capture("sync", () =>
        {
            Tensor y = gpu.Scale(x, 2f);
            gpu.CountNonFinite(y);
            return y;
        }));
        output.WriteLine(e.Message);
        Assert.Contains("CountNonFinite", e.Op);
        Assert.Contains("CountNonFinite", gpu.GraphStatistics.LastFailure);
        Assert.False(gpu.IsCapturing);

        var warnings = new List<string>();
        using var graph = new StepGraph(gpu, "download inside") { Warn = warnings.Add };
        float[] expected = gpu.Download(gpu.Scale(x, 3f));
        for (int step = 0; step < 3; step++)
        {
            Tensor result = graph.Run(StepGraphKey.Dense(x), () =>
            {
                Tensor y = gpu.Scale(x, 3f);
                gpu.Download(y); // a host read inside the step: cannot be captured
                return y;
            });
            Assert.Equal(expected, gpu.Download(result));
        }
        var warning = Assert.Single(warnings);
        output.WriteLine(warning);
        Assert.Contains("Download", warning);
        Assert.Contains("running eagerly", warning);

        // Uploads cannot be captured either (a replay would read whatever the staging buffer holds then).
        var upload = Assert.Throws<GraphCaptureException>(() => gpu.Capture("upload", () => gpu.Upload([1f, 2f], new Shape(2))));
        Assert.Contains("Upload", upload.Op);
    }

    /// <summary>The emulated driver itself: a synchronising call during capture fails and invalidates the capture, as on hardware.</summary>
    [SkippableFact]
    public void The_driver_invalidates_a_capture_that_synchronises()
    {
        using var gpu = Backend();
        Skip.If(EmulatorCounters.Read() is null, "needs the CPU emulator's driver (a real driver's behaviour is documented, not re-tested here)");
        var stream = CudaDriver.StreamCreate();
        try
        {
            CudaDriver.StreamBeginCapture(stream);
            var sync = Assert.Throws<CudaException>(() => CudaDriver.StreamSynchronize(stream));
            Assert.Equal("CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", sync.StatusName);
            var end = Assert.Throws<CudaException>(() => CudaDriver.StreamEndCapture(stream));
            Assert.Equal("CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", end.StatusName);
        }
        finally
        {
            CudaDriver.StreamDestroy(stream);
        }
    }

    /// <summary>
    /// "No host synchronisation and no allocation inside a denoising step": with graphs, steps 3..N of a CFG SD3 run
    /// make no synchronising driver call, no cuMemAlloc, no pool rent that allocates, and no copy from pageable memory
    /// (the emulator's counters; step 1 warms up, step 2 captures).
    /// </summary>
    [SkippableFact]
    public void Steady_steps_with_graphs_neither_synchronise_nor_allocate()
    {
        using var gpu = Backend();
        Skip.If(EmulatorCounters.Read() is null, "needs the CPU emulator's driver counters");
        gpu.UseGraphs = true;
        var pipeline = new Sd3Pipeline(Sd3Model(gpu));
        var inputs = Sd3Inputs(gpu);
        var snapshots = new List<(EmulatorCounters Driver, long PoolAllocations)>();
        pipeline.Denoise(inputs, Settings(6, 5f), (i, _) => snapshots.Add((EmulatorCounters.Read()!, gpu.Memory.DeviceAllocations)));
        var (first, firstPool) = snapshots[1];  // after the capture step
        var (last, lastPool) = snapshots[^1];
        output.WriteLine($"steps 3..6: {last - first}");
        Assert.Equal(0, last.Syncs - first.Syncs);
        Assert.Equal(0, last.Allocations - first.Allocations);
        Assert.Equal(0, lastPool - firstPool);
        Assert.Equal(0, last.PageableHostToDevice - first.PageableHostToDevice);
        Assert.Equal(4, last.GraphLaunches - first.GraphLaunches);
        Assert.True(last.Launches > first.Launches, "the replays ran the kernels");
    }

    [SkippableFact]
    public void Weight_uploads_are_measured()
    {
        using var gpu = Backend();
        var before = gpu.WeightUploads;
        var bytes = new byte[4096 * 4];
        using var w = gpu.UploadWeight(bytes, DType.F32, new Shape(64, 64));
        var after = gpu.WeightUploads;
        output.WriteLine(after.ToString());
        Assert.Equal(before.Tensors + 1, after.Tensors);
        Assert.Equal(before.SourceBytes + (ulong)bytes.Length, after.SourceBytes);
        Assert.Equal(before.DeviceBytes + 4096UL * 2, after.DeviceBytes);
        Assert.True(after.Elapsed > before.Elapsed);
    }
}

/// <summary>The CPU emulator's driver-call counters (fake_cuda_counters), or null on a real driver.</summary>
internal sealed record EmulatorCounters(long Launches, long GraphLaunches, long Captures, long Syncs, long Allocations, long Frees,
    long HostToDevice, long PageableHostToDevice)
{
    public static unsafe EmulatorCounters? Read()
    {
        var driver = NativeLibraries.Load(CudaLibrary.Driver);
        if (!driver.IsLoaded || !NativeLibrary.TryGetExport(driver.Handle, "fake_cuda_counters", out var export))
            return null;
        var c = new long[8];
        fixed (long* p = c)
            ((delegate* unmanaged<long*, void>)export)(p);
        return new EmulatorCounters(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
    }

    public static EmulatorCounters operator -(EmulatorCounters a, EmulatorCounters b) => new(a.Launches - b.Launches,
        a.GraphLaunches - b.GraphLaunches, a.Captures - b.Captures, a.Syncs - b.Syncs, a.Allocations - b.Allocations, a.Frees - b.Frees,
        a.HostToDevice - b.HostToDevice, a.PageableHostToDevice - b.PageableHostToDevice);
}
