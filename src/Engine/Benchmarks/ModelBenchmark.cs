using System.Diagnostics;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Benchmarks;

/// <summary>What to benchmark: a configuration, its input size, and the step mix.</summary>
/// <param name="MeasureSequential">Also time the forward with its blocks streamed (`--offload sequential`, CUDA only: <see cref="ResidencyBenchmark"/>).</param>
public sealed record ModelBenchmarkRequest(RealConfig Config, int Resolution, int Batch, AccelerationPreset Accel, int Warmup, int Repeats,
    double? FocusFraction = null, int? Steps = null, bool MeasureSequential = false);

/// <summary>One phase: its median time, and how it was obtained.</summary>
public sealed record PhaseTiming(string Phase, double Milliseconds, string Note);

/// <summary>The time of one step kind and how many steps of the mix have that kind.</summary>
public sealed record StepKindTiming(StepKind Kind, int Count, double Milliseconds, string Note);

/// <summary>Everything `accelaes bench --arch` reports for one configuration.</summary>
public sealed record ModelBenchmarkResult(
    string Config, string Backend, string TimingMethod, int Resolution, int Batch, int ImageTokens, int TextTokens, long Parameters,
    double WeightSeconds, IReadOnlyList<PhaseTiming> Phases, IReadOnlyList<OpProfile> Ops, double ForwardFlops, double ForwardMilliseconds,
    AccelerationPreset Accel, IReadOnlyList<StepKindTiming> StepKinds, int Steps, double DenseMilliseconds, double MixMilliseconds,
    double? FocusFraction, long PeakMemoryBytes, string PeakMemoryWhat)
{
    /// <summary>NaN when no time was measured (the CPU emulator of libcuda reports 0 ms for every event pair).</summary>
    public double AchievedTflops => ForwardMilliseconds > 0 ? ForwardFlops / (ForwardMilliseconds * 1e-3) / 1e12 : double.NaN;

    /// <summary>With <see cref="ModelBenchmarkRequest.MeasureSequential"/> on the CUDA backend: what streaming the blocks costs per step.</summary>
    public SequentialStepCost? Sequential { get; init; }

    /// <summary>Dense sampling time / the mix's time (1 with --accel none; NaN when no time was measured).</summary>
    public double Speedup => MixMilliseconds > 0 ? DenseMilliseconds / MixMilliseconds : double.NaN;
}

/// <summary>
/// Benchmarks a transformer of a real configuration with generated weights: weights, a first (warm-up) forward, the
/// median dense forward, a denoising step's CFG combine and Euler update, a profiling pass (per-op times and the
/// forward's FLOPs), and with an acceleration preset the median of each step kind, composed into the preset's
/// step mix (Σ over the schedule of the measured median of each step's kind) versus dense.
/// </summary>
/// <remarks>
/// The mix is composed from per-kind medians rather than timed as one sampling loop, so it needs no real mask:
/// sparse steps use a synthetic focus set of the configured fraction (random tokens), and the AesMask capture step is
/// timed as a dense forward (its affinity reduction is not included). Both are stated in the output.
/// </remarks>
public static class ModelBenchmark
{
    public static ModelBenchmarkResult Run(IBackend device, ModelBenchmarkRequest request, IWeightSource? weights = null, Action<string>? progress = null)
    {
        var config = request.Config;
        int steps = request.Steps ?? AccelerationOptions.ForPreset(request.Accel, config.Backbone).Steps;
        // The preset as a run of this many steps would resolve it (mask step and warmup scaled, components below their
        // minimum step count off), so a few-step mix (FLUX.1-schnell's 4) is timed as it would run, never refused.
        var options = AccelerationOptions.ForPreset(request.Accel, config.Backbone, steps);
        if (options.PresetNote is { } presetNote) progress?.Invoke(presetNote);
        var profiler = new ProfilingBackend(device) { Recording = false };
        var source = weights ?? new BenchWeightSource();

        progress?.Invoke($"generating and uploading the weights of {config.Description}");
        long start = Stopwatch.GetTimestamp();
        var model = BenchModel.Build(config, source, profiler, request.Resolution, request.Batch, prepareGeneration: false);
        BenchTiming.Synchronize(device);
        double weightSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        long parameters = source is BenchWeightSource b ? b.Parameters : 0;

        var phases = new List<PhaseTiming>();
        if (model.HasGenerationWork)
        {
            progress?.Invoke("once per generation");
            start = Stopwatch.GetTimestamp();
            model.PrepareGeneration();
            BenchTiming.Synchronize(device);
            phases.Add(new("once per generation", Stopwatch.GetElapsedTime(start).TotalMilliseconds,
                "Lumina's caption keys and values of every layer, before the first step (includes kernel compilation/loading)"));
        }
        progress?.Invoke("first forward");
        start = Stopwatch.GetTimestamp();
        Tensor latest = model.Forward();
        BenchTiming.Synchronize(device);
        phases.Add(new("first forward", Stopwatch.GetElapsedTime(start).TotalMilliseconds, "includes kernel compilation/loading and GEMM planning"));

        // Forwards are timed as the denoisers run them: replayed as a CUDA graph where the backend captures graphs.
        using var graph = new StepGraph(device, $"{config.Name} forward") { Warn = message => progress?.Invoke(message) };
        string how = graph.UsesGraphs ? "replayed as a CUDA graph" : "run op by op";
        progress?.Invoke("dense forward");
        double forwardMs = TimeForward(device, graph, model, null, request);
        phases.Add(new("transformer forward (dense)", forwardMs, $"median of {request.Repeats}, {how}"));

        // The rest of a dense step: CFG combine of the two halves (when the pipeline uses CFG) and the fp32 Euler update.
        Tensor previous = model.Forward();
        // The latent the sampler updates: one image per CFG pair.
        using Tensor state = profiler.Slice(model.Latents, 0, 0, config.UsesCfg && request.Batch >= 2 ? request.Batch / 2 : request.Batch);
        double stepRestMs = BenchTiming.MedianMilliseconds(device, () => GuideAndStep(profiler, model, latest, state), request.Warmup, request.Repeats);
        phases.Add(new(config.UsesCfg && request.Batch >= 2 ? "CFG combine + Euler step" : "Euler step", stepRestMs, $"median of {request.Repeats}"));

        progress?.Invoke("profiling pass (synchronised per op)");
        profiler.Recording = true;
        profiler.Reset();
        model.Forward().Dispose();
        profiler.Recording = false;
        var ops = profiler.Profile;
        double flops = profiler.TotalFlops;

        var kinds = new List<StepKindTiming>();
        double denseStep = forwardMs + stepRestMs;
        double mixMs = steps * denseStep;
        double? focusFraction = null;
        if (request.Accel != AccelerationPreset.None)
        {
            var sigmas = Enumerable.Range(0, steps + 1).Select(i => 1f - (float)i / steps).ToArray();
            var schedule = StepSchedule.Create(options, steps, sigmas);
            var perKind = new Dictionary<StepKind, (double Ms, string Note)>
            {
                [StepKind.Full] = (denseStep, "dense forward + step"),
                [StepKind.FullCaptureMask] = (denseStep, "timed as a dense step (the AesMask affinity reduction is not included)"),
            };
            if (schedule.SkippedCount > 0)
            {
                double skipMs = BenchTiming.MedianMilliseconds(device, () =>
                {
                    using var v = profiler.Extrapolate(latest, previous, 0.5f);
                    EulerStep(profiler, state, v);
                }, request.Warmup, request.Repeats);
                perKind[StepKind.Skip] = (skipMs, "StepCache extrapolation + Euler step, no forward");
            }
            if (schedule.SparseCount > 0 || schedule.Steps.Any(s => s.Kind == StepKind.FullFillCache))
            {
                focusFraction = request.FocusFraction ?? 1 - options.SkipRatio;
                var sparse = new SparseForward();
                sparse.SetFocus(model.SyntheticFocus(focusFraction.Value), model.ImageTokens);
                progress?.Invoke($"cache-fill and sparse forwards (synthetic focus set, fraction {focusFraction:F2})");
                double fillMs = BenchTiming.MedianMilliseconds(device, () =>
                {
                    sparse.BeginStep(StepKind.FullFillCache, null);
                    model.Forward(sparse).Dispose();
                }, request.Warmup, request.Repeats);
                perKind[StepKind.FullFillCache] = (fillMs + stepRestMs, "dense forward writing the caches + step");
                sparse.BeginStep(StepKind.FullFillCache, null);
                model.Forward(sparse).Dispose();
                sparse.BeginStep(StepKind.Sparse, null);
                double sparseMs = TimeForward(device, graph, model, sparse, request);
                perKind[StepKind.Sparse] = (sparseMs + stepRestMs, $"SkipSparse forward, synthetic focus set ({focusFraction:P0} of the tokens), {how} + step");
                sparse.Release();
            }
            mixMs = 0;
            foreach (var group in schedule.Steps.GroupBy(s => s.Kind).OrderBy(g => g.Key))
            {
                var (ms, note) = perKind[group.Key];
                kinds.Add(new StepKindTiming(group.Key, group.Count(), ms, note));
                mixMs += group.Count() * ms;
            }
        }

        var (peak, peakWhat) = BenchTiming.PeakMemory(device);
        SequentialStepCost? sequential = null;
        if (request.MeasureSequential && device is CudaBackend cuda)
        {
            progress?.Invoke("the transformer again with its blocks in pinned host memory (--offload sequential): eager forwards, resident and streamed");
            sequential = ResidencyBenchmark.MeasureSequential(cuda, model, request, source);
        }
        return new ModelBenchmarkResult(config.Description, device.Name, BenchTiming.Method(device), request.Resolution, request.Batch,
            model.ImageTokens, config.TextTokens, parameters, weightSeconds, phases, ops, flops, forwardMs, request.Accel, kinds, steps,
            steps * denseStep, mixMs, focusFraction, peak, peakWhat) { Sequential = sequential };
    }

    /// <summary>
    /// Median time of a dense or sparse forward through <paramref name="graph"/>, keyed as the denoisers key it. Two
    /// unmeasured runs first, whatever the warm-up: the first of a key runs eagerly, the second captures, so the timed
    /// runs are replays. A replay's output belongs to the graph (the next launch rewrites it) and is left alone; an
    /// eager forward's output is freed.
    /// </summary>
    private static double TimeForward(IBackend device, StepGraph graph, BenchModel model, SparseForward? sparse, ModelBenchmarkRequest request)
    {
        object key = sparse is null ? StepGraphKey.Dense(model.Latents)
            : StepGraphKey.ForSparse(model.Latents, sparse) ?? throw new InvalidOperationException($"A {sparse.Kind} forward is not a graph.");
        void Once()
        {
            // The graph owns the device backend's tensor, not the profiling decorator's wrapper of it.
            Tensor output = graph.Run(key, () => DelegatingBackend.Unwrap(model.Forward(sparse)));
            if (!graph.UsesGraphs) output.Dispose();
        }
        Once();
        Once();
        return BenchTiming.MedianMilliseconds(device, Once, request.Warmup, request.Repeats);
    }

    /// <summary>CFG combine of the batch halves (when the model runs CFG as a batch of 2) and the Euler update of the latent.</summary>
    internal static void GuideAndStep(IBackend be, BenchModel model, Tensor velocity, Tensor state)
    {
        if (model.Config.UsesCfg && model.Batch >= 2)
        {
            using var uncond = be.Slice(velocity, 0, 0, 1);
            using var cond = be.Slice(velocity, 0, 1, 1);
            using var guided = be.GuidanceCombine(uncond, cond, 7f);
            EulerStep(be, state, guided);
        }
        else
            EulerStep(be, state, velocity);
    }

    /// <summary>
    /// The Euler update of <paramref name="state"/> with the part of <paramref name="v"/> the pipelines use: the first
    /// batch rows, and the first half of the channels of learn_sigma models (Lumina outputs twice the latent channels).
    /// </summary>
    internal static void EulerStep(IBackend be, Tensor state, Tensor v)
    {
        Tensor rows = v.Shape[0] == state.Shape[0] ? v : be.Slice(v, 0, 0, state.Shape[0]);
        Tensor used = rows.Shape[1] == state.Shape[1] ? rows : be.Slice(rows, 1, 0, state.Shape[1]);
        be.EulerStepInPlace(state, used, -1e-3f);
        if (!ReferenceEquals(used, rows)) used.Dispose();
        if (!ReferenceEquals(rows, v)) rows.Dispose();
    }
}
