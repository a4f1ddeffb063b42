using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Models.Flux;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.TeaCache;

/// <summary>
/// TeaCache on a FLUX transformer, one run's state: the previous step's modulated input of block 0, the residual of
/// the last computed step (image tokens after the last block minus <c>x_embedder</c>'s output) and the decision rule.
/// A computed step runs every block and stores its residual; a reused step adds the stored residual to this step's
/// <c>x_embedder</c> output. Both go through <c>norm_out</c> / <c>proj_out</c> with this step's temb. The modulated
/// input is replaced on every step, reused or not, so each distance compares consecutive steps.
/// </summary>
public sealed class FluxTeaCache : ICachePolicy
{
    private readonly RelativeL1Distance _distance = new();
    private readonly ExecutedSteps _executed = new();
    private Tensor? _previousModulated, _residual;

    /// <param name="threshold"><c>rel_l1_thresh</c>.</param>
    /// <param name="steps">The run's step count (one transformer call per step).</param>
    public FluxTeaCache(double threshold, int steps)
    {
        Rule = new TeaCacheRule(threshold, steps, TeaCacheRescale.Flux);
    }

    public TeaCacheRule Rule { get; }

    public string Name => "teacache";

    /// <summary>Bytes held between steps (modulated input and residual).</summary>
    public long StateBytes { get; private set; }

    /// <summary>The velocity of step <paramref name="step"/> from its split forward (FLUX: <see cref="FluxSplitForward"/>).</summary>
    public Tensor Velocity(ISplitForward forward, int step)
    {
        IBackend be = forward.Image.Backend;
        Tensor modulated = forward.FirstBlockModulatedInput();
        TeaCacheDecision decision = Rule.Decide(step, () => _distance.Compute(modulated, _previousModulated!));
        _previousModulated = modulated;
        _executed.Record(step, decision.Computed);

        Tensor image;
        if (decision.Computed)
        {
            Tensor original = be.Copy(forward.Image); // RunBlocks updates the embedded image in place
            image = forward.RunBlocks();
            _residual = be.Add(image, be.Scale(original, -1f));
        }
        else
        {
            image = be.Add(forward.Image, _residual!);
        }
        StateBytes = 4L * (modulated.Shape.ElementCount + _residual!.Shape.ElementCount);
        return forward.Output(image);
    }

    /// <summary>
    /// The executed schedule as a run report: computed steps <see cref="StepKind.Full"/>, reused ones
    /// <see cref="StepKind.Skip"/> (no transformer body).
    /// </summary>
    public AcceleratedRunReport Report(SigmaSchedule sigmas) => _executed.Report(sigmas, StateBytes);
}
