using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.Policies;

/// <summary>
/// A caching policy that decides from the velocity the sampler integrates (after guidance), not only from the blocks:
/// RAS ranks the next step's tokens by this step's update. The pipeline hands it each step's velocity before the Euler step.
/// </summary>
public interface IVelocityObserver
{
    /// <summary>Step <paramref name="step"/>'s guided velocity [B, C, H, W] (read it now: it may be rewritten later).</summary>
    void Observe(int step, Tensor velocity, SigmaSchedule sigmas);
}
