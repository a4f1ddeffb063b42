namespace AccelAes.Engine.Acceleration.FirstBlockCache;

/// <summary>What FBCache decided at one step, with the number it decided from.</summary>
/// <param name="Step">0-based step index.</param>
/// <param name="Computed">True: the blocks after the first ran; false: their cached residual was reused.</param>
/// <param name="RelativeDifference">mean|r − r_ref| / mean|r_ref| of block 0's residual r against r_ref, the one of the
/// last computed step; null where no comparison was made (warmup, threshold 0, no computed step yet).</param>
public readonly record struct FirstBlockCacheDecision(int Step, bool Computed, double? RelativeDifference);
