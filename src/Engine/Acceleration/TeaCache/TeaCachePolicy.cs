using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.TeaCache;

/// <summary>
/// <c>--accel teacache</c>, one run's state, on FLUX, SD3 / SD3.5 and Lumina-Next: <see cref="TeaCacheBlocks"/>
/// decides and computes or reuses the block stack; both go through the output layer (norm_out / proj_out) with this
/// step's temb. The backbones differ only in the signal their split forward gives and the rescale polynomial.
/// </summary>
public sealed class TeaCachePolicy : ICachePolicy
{
    private readonly ExecutedSteps _executed = new();
    private readonly TeaCacheBlocks _blocks;

    /// <param name="threshold"><c>rel_l1_thresh</c>.</param>
    /// <param name="steps">The run's step count (one transformer call per step).</param>
    /// <param name="rescale">The backbone's polynomial (<see cref="TeaCacheRescale.For(Backbone)"/>) or the knob's.</param>
    public TeaCachePolicy(double threshold, int steps, TeaCacheRescale rescale) =>
        _blocks = new TeaCacheBlocks(new TeaCacheRule(threshold, steps, rescale));

    public TeaCacheRule Rule => _blocks.Rule;

    public string Name => "teacache";

    /// <summary>Bytes held between steps (modulated input and residual).</summary>
    public long StateBytes => _blocks.StateBytes;

    public Tensor Velocity(ISplitForward forward, int step)
    {
        var (image, decision) = _blocks.Blocks(forward, step);
        _executed.Record(step, decision.Computed);
        return forward.Output(image);
    }

    /// <summary>
    /// The executed schedule as a run report: computed steps <see cref="StepKind.Full"/>, reused ones
    /// <see cref="StepKind.Skip"/> (no transformer body).
    /// </summary>
    public AcceleratedRunReport Report(SigmaSchedule sigmas) => _executed.Report(sigmas, StateBytes);
}
