using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Models.Flux;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.Policies;

/// <summary>
/// A caching policy on a FLUX transformer, one run's state: given a step's embeddings it decides whether to compute
/// the blocks or reuse what it cached, and returns the step's velocity. One transformer call per step, in step order.
/// </summary>
public interface IFluxCachePolicy
{
    /// <summary>The policy as <c>--accel</c> spells it.</summary>
    string Name { get; }

    /// <summary>The velocity of step <paramref name="step"/> from its embeddings (<see cref="FluxTransformer2DModel.Embed"/>).</summary>
    Tensor Velocity(FluxTransformer2DModel model, FluxEmbeddedStep embedded, FluxRotaryTable rope, int step);

    /// <summary>What the run executed: computed steps and reused ones (<see cref="ExecutedSteps"/>).</summary>
    AcceleratedRunReport Report(SigmaSchedule sigmas);
}
