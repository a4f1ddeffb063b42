namespace AccelAes.Engine.Acceleration.TeaCache;

/// <summary>
/// TeaCache's per-step decision (Liu et al., "Timestep Embedding Tells: It's Time to Cache for Video Diffusion
/// Model"), exactly as <c>teacache_forward</c> runs it (ali-vilab/TeaCache@7c10efc, TeaCache4FLUX/teacache_flux.py):
/// the first and last steps always compute and reset the accumulator; every other step adds poly(rel_l1) to a float64
/// accumulator and reuses the cached residual while the sum stays strictly below <c>rel_l1_thresh</c>; a computed step
/// resets it to 0. One deviation: <c>rel_l1_thresh</c> 0 never reuses, even where the polynomial is negative. Host-side state only: the caller supplies rel_l1 (a model-side reduction).
/// </summary>
public sealed class TeaCacheRule
{
    private readonly List<TeaCacheDecision> _decisions = [];
    private double _accumulated;

    /// <param name="threshold"><c>rel_l1_thresh</c>: 0 never reuses; larger values reuse more.</param>
    /// <param name="steps">Transformer calls in the run (the official <c>num_steps</c>): its last one always computes.</param>
    public TeaCacheRule(double threshold, int steps, TeaCacheRescale rescale)
    {
        if (!(threshold >= 0) || !double.IsFinite(threshold))
            throw new AccelAesException($"rel_l1_thresh: must be a finite number ≥ 0, got {threshold}.");
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "a run has at least one step");
        Threshold = threshold;
        Steps = steps;
        Rescale = rescale;
    }

    public double Threshold { get; }

    public int Steps { get; }

    public TeaCacheRescale Rescale { get; }

    /// <summary>Every decision so far, in step order.</summary>
    public IReadOnlyList<TeaCacheDecision> Decisions => _decisions;

    /// <summary>
    /// Decides step <paramref name="step"/> (steps must come in order, 0 first). <paramref name="relativeL1"/> is asked
    /// only on steps that are not forced (the official code does not evaluate it on the first and last step).
    /// <paramref name="forceCompute"/> forces a middle step to compute as the first and last are (AccelAes's mask
    /// capture and cache-fill steps under <c>temporal=teacache</c>: their forward must run); it resets the accumulator
    /// like any computed step.
    /// </summary>
    public TeaCacheDecision Decide(int step, Func<double> relativeL1, bool forceCompute = false)
    {
        if (step != _decisions.Count)
            throw new InvalidOperationException($"TeaCache decides steps in order: expected step {_decisions.Count}, got {step}.");
        TeaCacheDecision decision;
        if (step == 0 || step == Steps - 1 || forceCompute)
        {
            _accumulated = 0;
            decision = new TeaCacheDecision(step, Computed: true, Forced: true, null, null, null, 0);
        }
        else
        {
            double rel = relativeL1();
            double rescaled = Rescale.Evaluate(rel);
            double compared = _accumulated + rescaled;
            // Strict '<': a sum equal to the threshold computes. Threshold 0 never reuses, as documented: the official code
            // would reuse at 0 where its polynomial goes negative (Lumina-Next's does for x between ≈ 0.28 and ≈ 1.1), which no user means by 0.
            bool reuse = Threshold > 0 && compared < Threshold;
            _accumulated = reuse ? compared : 0;
            decision = new TeaCacheDecision(step, Computed: !reuse, Forced: false, rel, rescaled, compared, _accumulated);
        }
        _decisions.Add(decision);
        return decision;
    }
}
