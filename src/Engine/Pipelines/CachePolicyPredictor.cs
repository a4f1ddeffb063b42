using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Pipelines;

/// <summary>A denoiser that can hand its transformer forward to a caching policy (FLUX, SD3).</summary>
public interface ICachePolicyDenoiser
{
    /// <summary>Step <paramref name="step"/>'s velocity with <paramref name="policy"/> deciding what the blocks compute.</summary>
    Tensor PredictWithCachePolicy(Tensor latents, int step, SigmaSchedule schedule, ICachePolicy policy);
}

/// <summary>A pipeline's velocity under a caching policy (TeaCache, FBCache, FORA, TaylorSeer), for the plain Euler loop (<see cref="DenoiseLoop"/>).</summary>
public sealed class CachePolicyPredictor(ICachePolicyDenoiser denoiser, ICachePolicy policy) : IVelocityPredictor
{
    public Tensor Predict(Tensor latents, int step, SigmaSchedule schedule)
    {
        Tensor velocity = denoiser.PredictWithCachePolicy(latents, step, schedule, policy);
        (policy as IVelocityObserver)?.Observe(step, velocity, schedule);
        return velocity;
    }
}
