namespace AccelAes.Engine.Acceleration.TeaCache;

/// <summary>What TeaCache decided at one step, with the numbers it decided from (the official code's state).</summary>
/// <param name="Step">0-based step index.</param>
/// <param name="Computed">True: the transformer body ran; false: the cached residual was reused.</param>
/// <param name="Forced">First or last step: always computed, no distance evaluated.</param>
/// <param name="RelativeL1">mean|m − m_prev| / mean|m_prev| of the first block's modulated input (null when forced).</param>
/// <param name="Rescaled">poly(RelativeL1) (null when forced).</param>
/// <param name="AccumulatedCompared">The accumulator compared with <c>rel_l1_thresh</c> (null when forced).</param>
/// <param name="AccumulatedAfter">The accumulator after the step: 0 after any computed step.</param>
public readonly record struct TeaCacheDecision(int Step, bool Computed, bool Forced, double? RelativeL1, double? Rescaled,
    double? AccumulatedCompared, double AccumulatedAfter);
