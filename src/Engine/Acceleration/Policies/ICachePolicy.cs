using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.Policies;

/// <summary>
/// A caching policy, one run's state (TeaCache, FBCache, FORA, TaylorSeer): given a step's split forward it decides whether to
/// compute the blocks or reuse what it cached, and returns the step's velocity. One transformer call per step, in order.
/// </summary>
public interface ICachePolicy
{
    /// <summary>The policy as <c>--accel</c> spells it.</summary>
    string Name { get; }

    /// <summary>The velocity of step <paramref name="step"/>.</summary>
    Tensor Velocity(ISplitForward forward, int step);

    /// <summary>What the run executed: computed steps and reused ones (<see cref="ExecutedSteps"/>).</summary>
    AcceleratedRunReport Report(SigmaSchedule sigmas);
}
