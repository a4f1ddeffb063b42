using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Benchmarks;

namespace AccelAes.Engine.Planning;

/// <summary>What a plan request takes from the architecture and the acceleration options (shared by `plan` and `generate`).</summary>
public static class PlanInputs
{
    /// <summary>T5 tokens for SD3 (333 joint tokens = 77 CLIP + 256 T5), the sequence length otherwise.</summary>
    public static long TextTokens(ModelArchitecture a) => a.Backbone == Backbone.Sd3 ? a.Config.TextTokens - 77 : a.Config.TextTokens;

    /// <summary>
    /// The step graphs a CUDA run keeps alive: one per computed step kind of the schedule (Full, FullCaptureMask,
    /// FullFillCache, Sparse), at most StepGraph's capacity of 2 — each holds its own forward's activations.
    /// </summary>
    public static int StepGraphsKept(ModelArchitecture a, AccelerationOptions options, int width, int height)
    {
        var schedule = StepSchedule.Create(options, a.Sigmas(a.Defaults.Steps, a.ImageTokens(width, height)), a.Config.CostModel(a.ImageTokens(width, height)), null);
        return Math.Min(2, schedule.Steps.Where(e => e.Kind.IsComputed()).Select(e => e.Kind).Distinct().Count());
    }
}
