using System.Globalization;
using AccelAes.Engine.Acceleration;

namespace AccelAes.Cli.Commands;

/// <summary>
/// One line for a run under a caching policy (TeaCache, FBCache, FORA, TaylorSeer): the policy with its knob, the schedule it
/// executed in letters, and what F and X meant for that policy.
/// </summary>
internal static class CachePolicySummary
{
    public static string Executed(AccelerationOptions options, StepSchedule executed)
    {
        var inv = CultureInfo.InvariantCulture;
        string name = AccelerationOptions.PresetName(options.Preset);
        var (knob, reused) = options.Preset switch
        {
            AccelerationPreset.TeaCache => ($"rel_l1_thresh {options.EffectiveRelL1Threshold.ToString("R", inv)}", "cached residual reused"),
            AccelerationPreset.FbCache => ($"residual_diff_threshold {options.ResidualDiffThreshold.ToString("R", inv)}",
                "block 0 run, the remaining blocks' cached residual reused"),
            AccelerationPreset.Fora => ($"interval {options.Interval.ToString(inv)}", "each block's cached attention and MLP outputs reused"),
            AccelerationPreset.TaylorSeer => ($"interval {options.Interval.ToString(inv)}, max_order {options.TaylorOrder.ToString(inv)}, warmup {options.Warmup.ToString(inv)}",
                "each block's attention and MLP outputs forecast by Taylor expansion"),
            AccelerationPreset.DeltaDit => ($"interval {options.Interval.ToString(inv)}, cached_blocks {(options.DeltaDitCachedBlocks is int k ? k.ToString(inv) : "auto (¾ of the blocks)")}, " +
                                            $"boundary_step {(options.DeltaDitBoundaryStep ?? options.Steps / 2).ToString(inv)}",
                "the cached blocks' deviation from the last computed step added: rear blocks before boundary_step, front blocks from it on"),
            AccelerationPreset.Ras => ($"sample_ratio {options.Ras.SampleRatio.ToString("R", inv)}", ""),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Preset, "not a caching policy"),
        };
        if (options.Preset == AccelerationPreset.Ras)
            return $"{name} ({knob}) schedule {executed.ToLetters()} (F dense, C dense storing keys/values, S only the active tokens computed)";
        return $"{name} ({knob}) schedule {executed.ToLetters()} (F computed, X {reused})";
    }

    /// <summary>RAS's tokens computed per step, e.g. "active tokens per step: 16,16,16,16,8,8 of 16".</summary>
    public static string ActiveTokens(IReadOnlyList<int> active, int tokens)
        => $"active tokens per step: {string.Join(",", active.Select(a => a.ToString(CultureInfo.InvariantCulture)))} of {tokens.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// An AccelAes run under temporal=teacache: the executed schedule with dense, sparse and reused steps, and its counts.
    /// </summary>
    public static string ExecutedTemporal(AccelerationOptions options, StepSchedule executed)
    {
        var inv = CultureInfo.InvariantCulture;
        return $"{AccelerationOptions.PresetName(options.Preset)}, temporal=teacache (rel_l1_thresh {options.EffectiveRelL1Threshold.ToString("R", inv)}) " +
               $"schedule {executed.ToLetters()}: {executed.FullCount} dense, {executed.SparseCount} sparse, {executed.SkippedCount} reused " +
               "(F dense, M mask capture, C cache fill, S sparse, X cached residual reused)";
    }
}
