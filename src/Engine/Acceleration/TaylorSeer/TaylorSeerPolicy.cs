using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.TaylorSeer;

/// <summary>
/// TaylorSeer, one run's state: the embeddings run every step; on a step the <see cref="TaylorSeerSchedule"/> computes,
/// every block runs and updates the Taylor factors of its attention and MLP outputs; on the others every block adds
/// their Taylor forecast through this step's gates (<see cref="BlockOutputCache"/> with <c>max_order</c> ≥ 1; the same
/// features FORA caches: the official FLUX blocks forecast img_attn, img_mlp, txt_attn, txt_mlp and the single blocks'
/// linear2 output).
/// </summary>
public sealed class TaylorSeerPolicy : ICachePolicy
{
    private readonly ExecutedSteps _executed = new();
    private readonly BlockOutputCache _features;

    /// <param name="maxOrder">The official <c>max_order</c>: the highest derivative kept.</param>
    public TaylorSeerPolicy(TaylorSeerSchedule schedule, int maxOrder)
    {
        Schedule = schedule;
        // Official derivative_approximation differentiates only when step > first_enhance − 2.
        _features = new BlockOutputCache(maxOrder, derivativesFromStep: schedule.FirstEnhance - 2);
    }

    public TaylorSeerSchedule Schedule { get; }

    public string Name => "taylorseer";

    public Tensor Velocity(ISplitForward forward, int step)
    {
        bool compute = Schedule.Computes(step);
        _features.BeginStep(step, compute);
        _executed.Record(step, compute);
        return forward.Output(forward.RunBlocks(_features));
    }

    public AcceleratedRunReport Report(SigmaSchedule sigmas) => _executed.Report(sigmas, _features.Bytes);
}
