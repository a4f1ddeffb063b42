using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.DeltaDit;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `accelaes explain --accel delta-dit`: Δ-DiT's schedule is static, so explain prints all of it, the blocks each step's
/// cache stands in for (for the model's block count: FLUX's double- and single-stream blocks as one range) and the rule.
/// </summary>
internal static class ExplainDeltaDit
{
    public static void Show(AccelerationOptions options, int steps, int blocks, bool json)
    {
        var schedule = new DeltaDitSchedule(options.Interval, options.DeltaDitCachedBlocks, options.DeltaDitBoundaryStep, steps);
        int cached = schedule.CachedBlocks(blocks);
        const string rule = "step k runs every block iff k mod interval = 0 and stores two deviations (output − input): of the front cached_blocks " +
                            "blocks and of the rear cached_blocks blocks; the steps between run the embeddings, the blocks outside the cached range " +
                            "and the output layer, and for the cached range add its stored deviation to this step's input of the range (Δ-Cache): " +
                            "the rear blocks before boundary_step (outline stage), the front blocks from it on (detail stage). " +
                            "Δ-DiT, Chen et al. 2024 (arXiv 2406.01125); no official code; defaults are this engine's choice.";
        ExplainStaticPolicy.Show("delta-dit", steps,
            [("interval", options.Interval), ("cached_blocks", cached), ("boundary_step", schedule.BoundaryStep), ("blocks", blocks)],
            s => schedule.CachedRange(s, blocks) is (0, 0),
            "adds the cached blocks' deviation instead of running them", rule, json, s => schedule.CachedRange(s, blocks));
    }
}
