using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.TeaCache;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.Runtime;

/// <summary>
/// TeaCache as AccelAes's temporal rule (<c>--accel accelaes --set temporal=teacache</c>): the sampling loop sets the
/// step, and the model's forward hands its block stack here (<see cref="SparseForward.TeaCache"/>) instead of running
/// it. A computed step runs the blocks the step's kind asks for (dense, mask capture, cache fill or SkipSparse) and
/// stores their residual; a reused step adds the residual of the last computed forward, whatever its kind, to this
/// step's embedded image tokens (after a sparse step: focus rows freshly computed, background rows as that step
/// composed them from the last fill's caches). A reused step leaves the SkipSparse caches and the mask untouched.
/// </summary>
public sealed class TemporalTeaCache(TeaCacheBlocks blocks)
{
    private int _step = -1;
    private bool _forceCompute;

    public TeaCacheBlocks Blocks { get; } = blocks;

    /// <summary>This step's decision, once its forward asked for it.</summary>
    public TeaCacheDecision? Decision { get; private set; }

    /// <summary>Starts step <paramref name="step"/>; <paramref name="forceCompute"/>: its forward must run (mask capture, cache fill).</summary>
    public void BeginStep(int step, bool forceCompute)
    {
        _step = step;
        _forceCompute = forceCompute;
        Decision = null;
    }

    /// <summary>The image tokens after the last block of this step's forward, computed or reused.</summary>
    public Tensor BlockStack(ISplitForward forward)
    {
        // One decision per step over the whole batch, as the official code (one transformer call with the CFG batch).
        if (Decision is not null)
            throw new AccelAesException("temporal=teacache: runs one transformer call per step; two-pass CFG (--cfg-mode TwoPass) needs two. " +
                                        "Use --cfg-mode Batched (the same values in one forward).");
        var (image, decision) = Blocks.Blocks(forward, _step, _forceCompute);
        Decision = decision;
        return image;
    }
}
