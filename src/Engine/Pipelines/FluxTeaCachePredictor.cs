using AccelAes.Engine.Acceleration.TeaCache;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Pipelines;

/// <summary>FluxPipeline's velocity under TeaCache, for the plain Euler loop (<see cref="DenoiseLoop"/>).</summary>
public sealed class FluxTeaCachePredictor(FluxDenoiser denoiser, FluxTeaCache cache) : IVelocityPredictor
{
    public Tensor Predict(Tensor latents, int step, SigmaSchedule schedule) => denoiser.PredictWithTeaCache(latents, step, schedule, cache);
}
