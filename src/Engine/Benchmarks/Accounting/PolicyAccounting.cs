using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.DeltaDit;
using AccelAes.Engine.Acceleration.FirstBlockCache;
using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Ras;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Acceleration.TaylorSeer;
using AccelAes.Engine.Acceleration.TeaCache;
using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Benchmarks.Accounting;

/// <summary>What counting a caching policy gave: its step kinds, and for a known mix every step as counted and its letters.</summary>
/// <param name="PerStep">Each step of the mix as counted (static policies), or null (the kinds' costs times their counts).</param>
/// <param name="Schedule">The mix as letters (F computed, X reused), or null when the policy decides it at run time.</param>
public sealed record PolicyCounts(IReadOnlyList<StepKindAccounting> Kinds, IReadOnlyList<TrafficTotals>? PerStep, string? Schedule);

/// <summary>
/// `bench --accounting --accel fbcache|fora|taylorseer|teacache|delta-dit`: the policy's own code (<see cref="CachePolicies"/>) run
/// on the counting backend through the model's split forward, step by step, as the pipelines' <c>PredictWithCachePolicy</c>
/// runs it (embeddings, <see cref="ICachePolicy.Velocity"/>, then the CFG combine and Euler update). Nothing is a formula:
/// a reusing step costs whatever the policy's reuse path launched.
/// </summary>
public static class PolicyAccounting
{
    /// <summary>Run lengths for counting a dynamic policy: step 0 computes, step 1 reuses, step 2 compares and computes, step 3 (TeaCache's forced last) is never run.</summary>
    private const int DynamicCountingSteps = 4;

    /// <summary>
    /// The step kinds of <paramref name="options"/>' policy. Static policies (FORA, TaylorSeer, Δ-DiT) run their whole schedule
    /// of <paramref name="steps"/>; dynamic ones (TeaCache, FBCache) count one reusing and one computing step and take the
    /// mix from <paramref name="letters"/> (F/X per step, e.g. a run record's schedule), or report no mix without it.
    /// </summary>
    public static PolicyCounts Count(CountingBackend be, BenchModel model, Tensor state, AccelerationOptions options, int steps, string? letters)
    {
        if (options.Preset == AccelerationPreset.Ras)
        {
            if (letters is not null)
                throw new AccelAesException("--schedule: ras's schedule follows from its knobs and --steps; --schedule gives the mix of a dynamic policy (teacache, fbcache).");
            return CountRas(be, model, state, options, steps);
        }
        bool dynamic = options.Preset is AccelerationPreset.TeaCache or AccelerationPreset.FbCache;
        if (!dynamic && letters is not null)
            throw new AccelAesException($"--schedule: {PresetName(options)}'s schedule follows from its knobs (interval, warmup) and --steps; " +
                                        "--schedule gives the mix of a dynamic policy (teacache, fbcache).");
        if (letters is not null) CheckLetters(letters, options.Preset);
        return dynamic ? CountDynamic(be, model, state, options, letters) : CountStatic(be, model, state, options, steps);
    }

    private static PolicyCounts CountStatic(CountingBackend be, BenchModel model, Tensor state, AccelerationOptions options, int steps)
    {
        ICachePolicy policy = CachePolicies.For(options, steps)!;
        var perStep = new List<TrafficTotals>();
        var computed = new List<bool>();
        for (int step = 0; step < steps; step++)
        {
            perStep.Add(CountStep(be, model, state, policy, step));
            computed.Add(policy switch
            {
                ForaPolicy fora => fora.Schedule.Computes(step),
                TaylorSeerPolicy taylor => taylor.Schedule.Computes(step),
                DeltaDitPolicy delta => delta.Schedule.CachedRange(step, model.Config.Layers) is (0, 0),
                _ => throw new InvalidOperationException($"{policy.Name} is not a static policy."),
            });
        }
        var (computeNote, reuseNote) = Notes(options.Preset);
        var kinds = new List<StepKindAccounting>();
        // A kind's cost is its last step in the run: TaylorSeer's forecast grows with the derivatives held, so the last one
        // is the steady state; the mix itself sums every step as counted (PerStep).
        foreach (var (kind, isComputed, note) in new[] { (StepKind.Full, true, computeNote), (StepKind.Skip, false, reuseNote) })
        {
            int count = computed.Count(c => c == isComputed);
            if (count > 0)
                kinds.Add(new StepKindAccounting(kind, count, perStep[computed.LastIndexOf(isComputed)], note + " (the run's last such step)"));
        }
        string schedule = new([.. computed.Select(c => c ? 'F' : 'X')]);
        return new PolicyCounts(kinds, perStep, schedule);
    }

    /// <summary>
    /// RAS: which tokens a step computes depends on the values, how many does not (the schedule fixes it), so every step is
    /// counted through the policy with the read-back of the velocity answered by zeros (the ranking then keeps token order).
    /// Kinds: dense steps, the dense steps that fill the key/value caches, and RAS steps (each the run's last such step).
    /// </summary>
    private static PolicyCounts CountRas(CountingBackend be, BenchModel model, Tensor state, AccelerationOptions options, int steps)
    {
        var policy = (RasPolicy)CachePolicies.For(options, steps)!;
        float[] sigmas = Enumerable.Range(0, steps + 1).Select(i => 1f - (float)i / steps).ToArray();
        var schedule = new SigmaSchedule(sigmas[..steps].Select(s => 1000f * s).ToArray(), sigmas);
        var perStep = new List<TrafficTotals>();
        be.ComputedReadBack = t => new float[t.Shape.ElementCount];
        try
        {
            for (int step = 0; step < steps; step++)
            {
                be.Ledger.Take();
                Tensor velocity = policy.Velocity(model.SplitStep(), step);
                // The observed velocity is one image's (the guided one in a run; here the batch's first row: the same size).
                using (Tensor one = be.Slice(velocity, 0, 0, 1)) policy.Observe(step, one, schedule);
                ModelBenchmark.GuideAndStep(be, model, velocity, state);
                perStep.Add(be.Ledger.Take());
            }
        }
        finally
        {
            be.ComputedReadBack = null;
        }
        AcceleratedRunReport report = policy.Report(schedule);
        var kinds = new List<StepKindAccounting>();
        RasStepSchedule plan = policy.Schedule!;
        foreach (var (kind, note) in new[]
                 {
                     (StepKind.Full, "embeddings, every block, output layer + step"),
                     (StepKind.FullFillCache, "embeddings, every block storing its image keys and values, output layer + step"),
                     (StepKind.Sparse, "embeddings, every block on the active tokens (keys and values of the others from cache), output layer, " +
                                       "the previous output's other tokens kept, the velocity read back and ranked + step"),
                 })
        {
            int last = -1;
            for (int i = 0; i < steps; i++) if (report.Schedule[i].Kind == kind) last = i;
            if (last < 0) continue;
            int count = report.Schedule.Steps.Count(e => e.Kind == kind);
            string active = kind == StepKind.Sparse ? $" ({plan.Active(last)} of {plan.Tokens} tokens; the run's last such step)" : " (the run's last such step)";
            kinds.Add(new StepKindAccounting(kind, count, perStep[last], note + active));
        }
        return new PolicyCounts(kinds, perStep, report.Schedule.ToLetters());
    }

    private static PolicyCounts CountDynamic(CountingBackend be, BenchModel model, Tensor state, AccelerationOptions options, string? letters)
    {
        // The decision is the only value-dependent part of a step: the threshold is made unreachable and the one scalar pair
        // the policy reads back is scripted (sums 0 and 1: distance 0, reuse; NaN: no comparison holds, compute), so the
        // counted ops are the policy's own reuse and compute paths. A step's cost does not depend on the threshold.
        var counting = options with { RelL1Threshold = 1e300, ResidualDiffThreshold = 1e300, Warmup = 0 };
        ICachePolicy policy = CachePolicies.For(counting, DynamicCountingSteps)!;
        float[] answer = [];
        be.ComputedReadBack = _ => answer;
        TrafficTotals reuse, compute;
        try
        {
            CountStep(be, model, state, policy, 0);
            answer = [0f, 1f];
            reuse = CountStep(be, model, state, policy, 1);
            answer = [float.NaN, 1f];
            compute = CountStep(be, model, state, policy, 2);
        }
        finally
        {
            be.ComputedReadBack = null;
        }
        IReadOnlyList<bool> decided = policy switch
        {
            TeaCachePolicy tea => tea.Rule.Decisions.Select(d => d.Computed).ToList(),
            FirstBlockCachePolicy fb => fb.Rule.Decisions.Select(d => d.Computed).ToList(),
            _ => throw new InvalidOperationException($"{policy.Name} is not a dynamic policy."),
        };
        if (decided[1] || !decided[2])
            throw new InvalidOperationException($"{policy.Name}: the scripted decisions did not give a reused step 1 and a computed step 2.");

        var (computeNote, reuseNote) = Notes(options.Preset);
        int computedCount = letters?.Count(c => c == 'F') ?? 0, reusedCount = letters?.Count(c => c == 'X') ?? 0;
        var kinds = new List<StepKindAccounting>
        {
            new(StepKind.Full, computedCount, compute, computeNote + " (a step that compared; step 0 does not)"),
            new(StepKind.Skip, reusedCount, reuse, reuseNote),
        };
        return new PolicyCounts(kinds, null, letters);
    }

    /// <summary>A dynamic policy's mix must be one it can execute: F or X per step, step 0 computed (nothing cached yet), TeaCache's last step too.</summary>
    private static void CheckLetters(string letters, AccelerationPreset preset)
    {
        string name = preset.ToString().ToLowerInvariant();
        if (letters.Length == 0)
            throw new AccelAesException("--schedule: give one letter per step, F (computed) or X (reused); got an empty string.");
        for (int i = 0; i < letters.Length; i++)
            if (letters[i] is not ('F' or 'X'))
                throw new AccelAesException($"--schedule: one letter per step, F (computed) or X (reused); got '{letters[i]}' at step {i}.");
        if (letters[0] != 'F')
            throw new AccelAesException($"--schedule: step 0 always computes under {name} (nothing is cached yet); got X.");
        if (preset == AccelerationPreset.TeaCache && letters[^1] != 'F')
            throw new AccelAesException($"--schedule: teacache always computes its last step (step {letters.Length - 1}); got X.");
    }

    /// <summary>One step as the pipelines run it under a policy: embeddings, the policy's velocity, CFG combine and Euler update.</summary>
    private static TrafficTotals CountStep(CountingBackend be, BenchModel model, Tensor state, ICachePolicy policy, int step)
    {
        be.Ledger.Take();
        Tensor velocity = policy.Velocity(model.SplitStep(), step);
        ModelBenchmark.GuideAndStep(be, model, velocity, state);
        return be.Ledger.Take();
    }

    private static (string Compute, string Reuse) Notes(AccelerationPreset preset) => preset switch
    {
        AccelerationPreset.TeaCache => ("embeddings, block 0's modulated input and its relative L1 distance (one scalar pair read back), every block, residual stored, output layer + step",
            "embeddings, block 0's modulated input and its distance, the cached residual added, output layer + step"),
        AccelerationPreset.FbCache => ("embeddings, block 0 and its residual's distance (one scalar pair read back), the remaining blocks, residual stored, output layer + step",
            "embeddings, block 0 and its residual's distance, the remaining blocks' cached residual added, output layer + step"),
        AccelerationPreset.Fora => ("embeddings, every block storing its attention and MLP outputs, output layer + step",
            "embeddings, each block's modulation and its cached attention and MLP outputs added through this step's gates, output layer + step"),
        AccelerationPreset.TaylorSeer => ("embeddings, every block updating the Taylor factors of its attention and MLP outputs, output layer + step",
            "embeddings, each block's modulation, the Taylor forecast of its attention and MLP outputs added through this step's gates, output layer + step"),
        AccelerationPreset.DeltaDit => ("embeddings, every block with the streams copied where the front and rear cached ranges end and start, both deviations stored, output layer + step",
            "embeddings, the blocks outside the cached range, the cached range's stored deviation added, output layer + step"),
        _ => throw new ArgumentOutOfRangeException(nameof(preset), preset, "not a caching policy"),
    };

    private static string PresetName(AccelerationOptions options) => options.Preset.ToString().ToLowerInvariant();
}
