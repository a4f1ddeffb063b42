using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Sampling;

/// <summary>One backbone's velocity prediction for the current latents, guidance included (per pipeline conventions).</summary>
public interface IVelocityPredictor
{
    /// <summary>
    /// The velocity to integrate at step <paramref name="step"/>, with the pipeline's guidance and sign applied.
    /// It may be the output of a replayed graph (<see cref="StepGraph"/>), valid until the next call: copy it to keep it.
    /// </summary>
    Tensor Predict(Tensor latents, int step, SigmaSchedule schedule);
}

/// <summary>
/// The flow-matching Euler loop shared by every pipeline: x ← x + (σᵢ₊₁ − σᵢ)·v(x, σᵢ) in fp32.
/// Fails with an error naming the first step whose latents hold a NaN or infinity (<see cref="NonFiniteCheck"/>: the
/// CPU stops at that step; a device backend counts on the device and reads the counts once after the last step, so
/// no step waits for the host — a failing run then finishes its steps, and step callbacks see the bad latents).
/// </summary>
public static class DenoiseLoop
{
    /// <summary>Integrates <paramref name="latents"/> in place over the whole schedule.</summary>
    /// <param name="onStep">Called after each step with its index and the updated latents.</param>
    public static void Run(Tensor latents, SigmaSchedule schedule, IVelocityPredictor predictor, Action<int, Tensor>? onStep = null)
    {
        IBackend be = latents.Backend;
        using var check = new NonFiniteCheck(be, schedule.Steps, (i, bad) =>
            $"Step {i} (σ = {schedule.Sigmas[i]:G5}) produced {bad} non-finite latent values; sampling stopped.");
        for (int i = 0; i < schedule.Steps; i++)
        {
            using (be.Range($"step {i + 1}/{schedule.Steps}"))
            {
                Tensor v = predictor.Predict(latents, i, schedule);
                be.EulerStepInPlace(latents, v, schedule.StepSize(i));
                check.After(i, latents);
            }
            onStep?.Invoke(i, latents);
        }
        check.Flush(schedule.Steps - 1);
    }
}
