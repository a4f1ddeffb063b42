using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Benchmarks.Accounting;

/// <summary>What to count: a configuration at a resolution and batch, and optionally an acceleration preset's step mix.</summary>
/// <param name="Overrides">Knob overrides of the preset (`--set knob=value`), e.g. FORA's interval.</param>
/// <param name="Schedule">A dynamic policy's executed mix as letters (F computed, X reused; `--schedule`), or null.</param>
/// <param name="PublishedWeightTies">Weights equal where the published checkpoints' are (Lumina's shared query path,
/// <see cref="PlaceholderWeightSource"/>); false: all distinct, as the generated weights a timed `bench --arch` runs.</param>
/// <param name="SwiGlu">The SwiGLU GEMM path counted (<c>--swiglu-gemm</c>; auto is counted as fused: <see cref="CountingBackend.SwiGluGemm"/>).</param>
public sealed record AccountingRequest(RealConfig Config, int Resolution, int Batch, AccelerationPreset Accel = AccelerationPreset.None,
    double? FocusFraction = null, int? Steps = null, CountedGemmEngine Gemm = CountedGemmEngine.CublasLt, bool PublishedWeightTies = true,
    IReadOnlyList<KeyValuePair<string, string>>? Overrides = null, string? Schedule = null, SwiGluGemm SwiGlu = SwiGluGemm.Auto);

/// <summary>One step kind of a mix: how many steps of the schedule have it, and what one such step does.</summary>
public sealed record StepKindAccounting(StepKind Kind, int Count, TrafficTotals Step, string Note);

/// <summary>
/// The accounting of one configuration: a dense forward, the rest of a dense step (CFG combine of the batch halves and
/// the Euler update), their sum (<see cref="DenseStep"/>), and with a preset the step kinds of its mix.
/// </summary>
/// <param name="PerStep">Every step of the mix as counted (static caching policies), or null: the kinds' costs times their counts.</param>
/// <param name="Schedule">A caching policy's mix as letters (F computed, X reused), or null.</param>
/// <param name="MixDecidedAtRunTime">A dynamic policy without `--schedule`: only the step kinds' costs are known, not how many of each.</param>
public sealed record AccountingResult(string Config, string Backend, int Resolution, int Batch, int ImageTokens, int TextTokens,
    long Parameters, TrafficTotals Forward, TrafficTotals StepRest, AccelerationPreset Accel, int Steps,
    IReadOnlyList<StepKindAccounting> StepKinds, double? FocusFraction, IReadOnlyList<TrafficTotals>? PerStep = null,
    string? Schedule = null, bool MixDecidedAtRunTime = false)
{
    public TrafficTotals DenseStep => Forward.Plus(StepRest);

    /// <summary>
    /// The work the pipeline does once per generation, before its first step (Lumina: every layer's caption keys and values);
    /// empty for SD3 and FLUX. In no step's numbers, nor in <see cref="MixTotal"/>.
    /// </summary>
    public TrafficTotals PerGeneration { get; init; } = TrafficTotals.Empty;

    /// <summary>The whole sampling run of <see cref="Steps"/> steps: the preset's mix, or every step dense.</summary>
    public TrafficTotals MixTotal => PerStep is { } counted ? counted.Aggregate(TrafficTotals.Empty, (sum, s) => sum.Plus(s))
        : StepKinds.Count == 0 ? DenseStep.Scaled(Steps)
        : StepKinds.Aggregate(TrafficTotals.Empty, (sum, k) => sum.Plus(k.Step.Scaled(k.Count)));
}

/// <summary>
/// `accelaes bench --arch A --accounting`: runs the transformer of a real configuration on the <see cref="CountingBackend"/>
/// with placeholder weights — the same model classes and inputs as `bench --arch` (<see cref="BenchModel"/>) — and returns
/// what the CUDA backend's kernels would read, write, compute and launch. Seconds on any machine, no GPU.
/// </summary>
public static class AccountingBenchmark
{
    public static AccountingResult Run(AccountingRequest request, Action<string>? progress = null)
    {
        var config = request.Config;
        // Split-KV as the CUDA backend would run it: ACCELAES_ATTENTION_KV_SPLITS (auto / off / n) applies to the counting too.
        using var be = new CountingBackend(request.Gemm)
        {
            AttentionKvSplits = BackendFactory.ParseKvSplits(Environment.GetEnvironmentVariable(BackendFactory.KvSplitsVariable), BackendFactory.KvSplitsVariable),
            SwiGluGemm = request.SwiGlu,
        };
        var weights = new PlaceholderWeightSource(request.PublishedWeightTies);
        be.Ledger.Recording = false;
        var model = BenchModel.Build(config, weights, be, request.Resolution, request.Batch, prepareGeneration: false);
        using Tensor state = be.Slice(model.Latents, 0, 0, config.UsesCfg && request.Batch >= 2 ? request.Batch / 2 : request.Batch);
        be.Ledger.Recording = true;

        progress?.Invoke($"counting a dense forward of {config.Description} at {request.Resolution}², batch {request.Batch}");
        be.Ledger.Take();
        // Once per generation, before the first step (Lumina's caption keys and values): counted apart, never in a step.
        model.PrepareGeneration();
        var perGeneration = be.Ledger.Take();
        Tensor velocity = model.Forward();
        var forward = be.Ledger.Take();
        ModelBenchmark.GuideAndStep(be, model, velocity, state);
        var rest = be.Ledger.Take();

        var kinds = new List<StepKindAccounting>();
        if (request.Schedule is { } letters && request.Steps is int asked && asked != letters.Length)
            throw new AccelAesException($"--schedule has {letters.Length} steps (one letter each) but --steps is {asked}; give one, or make them agree.");
        int steps = request.Schedule?.Length ?? request.Steps ?? AccelerationOptions.ForPreset(request.Accel, config.Backbone).Steps;
        double? focusFraction = null;
        // As AccelerationRequest.Resolve, without a guidance scale (a count does not depend on it).
        var policyOptions = AccelerationOptions.ForRun(request.Accel, config.Backbone, steps, null, null);
        foreach (var (knob, value) in request.Overrides ?? []) policyOptions = policyOptions.With(knob, value);
        if (policyOptions.UsesCachePolicy)
        {
            policyOptions = policyOptions.Validated();
            progress?.Invoke($"counting {request.Accel}'s steps through the model's split forward");
            var counts = PolicyAccounting.Count(be, model, state, policyOptions, steps, request.Schedule);
            return new AccountingResult(config.Description, be.Name, request.Resolution, request.Batch, model.ImageTokens, config.TextTokens,
                weights.Parameters, forward, rest, request.Accel, steps, counts.Kinds, null, counts.PerStep, counts.Schedule,
                MixDecidedAtRunTime: counts.Schedule is null) { PerGeneration = perGeneration };
        }
        if (request.Overrides is { Count: > 0 })
            throw new AccelAesException($"--set tunes a caching policy's knobs here (--accel teacache, fbcache, fora, taylorseer, delta-dit, ras), not {request.Accel}'s.");
        if (request.Schedule is not null)
            throw new AccelAesException($"--schedule gives the mix of a dynamic caching policy (--accel teacache or fbcache), not of {request.Accel}.");
        if (request.Accel != AccelerationPreset.None)
        {
            var options = AccelerationOptions.ForPreset(request.Accel, config.Backbone, steps);
            if (options.PresetNote is { } note) progress?.Invoke(note);
            var sigmas = Enumerable.Range(0, steps + 1).Select(i => 1f - (float)i / steps).ToArray();
            var schedule = StepSchedule.Create(options, steps, sigmas);
            var dense = forward.Plus(rest);
            var perKind = new Dictionary<StepKind, (TrafficTotals Step, string Note)>
            {
                [StepKind.Full] = (dense, "dense forward + step"),
                [StepKind.FullCaptureMask] = (dense, "counted as a dense step (the AesMask affinity reduction is not included)"),
            };
            if (schedule.SkippedCount > 0)
            {
                using var previous = model.Forward();
                be.Ledger.Take();
                using (var v = be.Extrapolate(velocity, previous, 0.5f))
                    ModelBenchmark.EulerStep(be, state, v);
                perKind[StepKind.Skip] = (be.Ledger.Take(), "StepCache extrapolation + Euler step, no forward");
            }
            if (schedule.SparseCount > 0 || schedule.Steps.Any(s => s.Kind == StepKind.FullFillCache))
            {
                focusFraction = request.FocusFraction ?? 1 - options.SkipRatio;
                var sparse = new SparseForward();
                sparse.SetFocus(model.SyntheticFocus(focusFraction.Value), model.ImageTokens);
                progress?.Invoke($"counting a cache-fill and a sparse forward (synthetic focus set, fraction {focusFraction:F2})");
                be.Ledger.Take();
                sparse.BeginStep(StepKind.FullFillCache, null);
                model.Forward(sparse).Dispose();
                perKind[StepKind.FullFillCache] = (be.Ledger.Take().Plus(rest), "dense forward writing the caches + step");
                sparse.BeginStep(StepKind.Sparse, null);
                model.Forward(sparse).Dispose();
                perKind[StepKind.Sparse] = (be.Ledger.Take().Plus(rest), $"SkipSparse forward, synthetic focus set ({focusFraction:P0} of the tokens) + step");
                sparse.Release();
            }
            foreach (var group in schedule.Steps.GroupBy(s => s.Kind).OrderBy(g => g.Key))
                kinds.Add(new StepKindAccounting(group.Key, group.Count(), perKind[group.Key].Step, perKind[group.Key].Note));
        }
        return new AccountingResult(config.Description, be.Name, request.Resolution, request.Batch, model.ImageTokens, config.TextTokens,
            weights.Parameters, forward, rest, request.Accel, steps, kinds, focusFraction) { PerGeneration = perGeneration };
    }
}
