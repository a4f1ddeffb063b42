using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Pipelines;

/// <summary>FluxPipeline's velocity under a caching policy (TeaCache, FBCache, FORA), for the plain Euler loop (<see cref="DenoiseLoop"/>).</summary>
public sealed class FluxCachePolicyPredictor(FluxDenoiser denoiser, IFluxCachePolicy policy) : IVelocityPredictor
{
    public Tensor Predict(Tensor latents, int step, SigmaSchedule schedule) => denoiser.PredictWithCachePolicy(latents, step, schedule, policy);
}
