using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Sampling;

/// <summary>One backbone's velocity prediction for the current latents, guidance included (per pipeline conventions).</summary>
public interface IVelocityPredictor
{
    /// <summary>The velocity to integrate at step <paramref name="step"/>, with the pipeline's guidance and sign applied.</summary>
    Tensor Predict(Tensor latents, int step, SigmaSchedule schedule);
}

/// <summary>
/// The flow-matching Euler loop shared by every pipeline: x ← x + (σᵢ₊₁ − σᵢ)·v(x, σᵢ) in fp32.
/// Stops with an error naming the step if a latent becomes NaN or infinite.
/// </summary>
public static class DenoiseLoop
{
    /// <summary>Integrates <paramref name="latents"/> in place over the whole schedule.</summary>
    /// <param name="onStep">Called after each step with its index and the updated latents.</param>
    public static void Run(Tensor latents, SigmaSchedule schedule, IVelocityPredictor predictor, Action<int, Tensor>? onStep = null)
    {
        IBackend be = latents.Backend;
        for (int i = 0; i < schedule.Steps; i++)
        {
            Tensor v = predictor.Predict(latents, i, schedule);
            be.EulerStepInPlace(latents, v, schedule.StepSize(i));
            int bad = be.CountNonFinite(latents);
            if (bad > 0)
                throw new AccelAesException(
                    $"Step {i} (σ = {schedule.Sigmas[i]:G5}) produced {bad} non-finite latent values; sampling stopped.");
            onStep?.Invoke(i, latents);
        }
    }
}
