using AccelAes.Engine.Benchmarks;

namespace AccelAes.Engine.Planning;

/// <summary>
/// What a memory plan is computed for: the model (its transformer config and components), the image size, the
/// forward batch (batched CFG runs both branches in one forward), the SkipSparse settings of the acceleration
/// request, the CUDA step graphs kept, the weight precision and the memory to fit in (null: no limit given).
/// </summary>
public sealed record MemoryPlanRequest(ModelArchitecture Architecture, IReadOnlyList<PlannedComponent> Components, int Width, int Height,
    bool BatchedCfg, bool SkipSparse, bool SparseFeedForward, WeightPrecision Precision, long? MemoryBytes)
{
    /// <summary>
    /// CUDA graphs of denoising steps alive at once: each keeps the pool blocks of its own forward (StepGraph keeps
    /// the two most recent step kinds, e.g. the dense and the sparse step). 1 for a schedule with one computed step kind.
    /// </summary>
    public int StepGraphs { get; init; } = 1;

    /// <summary>Whether the pipeline runs two guidance branches per step (FLUX.1 is guidance-distilled: one).</summary>
    public bool UsesCfg => Architecture.Config.UsesCfg;

    public int ForwardBatch => UsesCfg && BatchedCfg ? 2 : 1;

    public int CacheBatch => UsesCfg ? 2 : 1;
}
