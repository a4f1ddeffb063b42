namespace AccelAes.Engine.Acceleration.FirstBlockCache;

/// <summary>
/// First-block cache (FBCache)'s per-step decision, as ParaAttention's <c>get_can_use_cache</c> runs it
/// (chengzeyi/ParaAttention src/para_attn/first_block_cache/utils.py at commit
/// 4de137c5b96416489f06e43e19f2c14a772e28fd): a step inside the warmup computes; a threshold ≤ 0 always computes; so
/// does a step with no computed step before it; otherwise the step reuses the cache iff
/// <c>mean|r_ref − r| / mean|r_ref| &lt; residual_diff_threshold</c>, where r is this step's residual of transformer block
/// 0 and r_ref the one stored at the last computed step (the official code stores it only when it computes, so slow
/// drift accumulates against a fixed reference instead of hiding between consecutive steps). Host-side state only: the
/// caller supplies the distance (a model-side reduction).
/// </summary>
public sealed class FirstBlockCacheRule
{
    private readonly List<FirstBlockCacheDecision> _decisions = [];
    private bool _hasReference;

    /// <param name="threshold"><c>residual_diff_threshold</c>: 0 never reuses; larger values reuse more.</param>
    /// <param name="warmup">Steps at the start that always compute (the official <c>warmup_steps</c>, default 0).</param>
    public FirstBlockCacheRule(double threshold, int warmup = 0)
    {
        if (!(threshold >= 0) || !double.IsFinite(threshold))
            throw new AccelAesException($"residual_diff_threshold: must be a finite number ≥ 0, got {threshold}.");
        if (warmup < 0) throw new AccelAesException($"warmup: must be ≥ 0, got {warmup}.");
        Threshold = threshold;
        Warmup = warmup;
    }

    public double Threshold { get; }

    public int Warmup { get; }

    /// <summary>Every decision so far, in step order.</summary>
    public IReadOnlyList<FirstBlockCacheDecision> Decisions => _decisions;

    /// <summary>
    /// Decides step <paramref name="step"/> (steps in order, 0 first). <paramref name="relativeDifference"/> is asked only
    /// when a comparison is made. A computed step makes this step's block-0 residual the new reference (the caller stores it).
    /// </summary>
    public FirstBlockCacheDecision Decide(int step, Func<double> relativeDifference)
    {
        if (step != _decisions.Count)
            throw new InvalidOperationException($"FBCache decides steps in order: expected step {_decisions.Count}, got {step}.");
        FirstBlockCacheDecision decision;
        if (step < Warmup || Threshold <= 0 || !_hasReference)
        {
            decision = new FirstBlockCacheDecision(step, Computed: true, null);
        }
        else
        {
            double difference = relativeDifference();
            // Strict '<' as the official code: a difference equal to the threshold computes.
            decision = new FirstBlockCacheDecision(step, Computed: !(difference < Threshold), difference);
        }
        if (decision.Computed) _hasReference = true;
        _decisions.Add(decision);
        return decision;
    }
}
