namespace AccelAes.Engine.Acceleration.Fora;

/// <summary>
/// FORA's static schedule (Selvaraju et al., "FORA: Fast-Forward Caching in Diffusion Transformer Acceleration"), as its
/// official code decides it (prathebaselva/FORA src/models.py, <c>DiTBlock.forward</c>, cache type
/// <c>boost_infer_static</c>, at commit acde628eb1c9605015542c91040c401919369487): a step computes iff
/// <c>step == numstep − 1 or step % N == 0</c>, where <c>step</c> is the sampler's index counting <b>down</b> from
/// numstep − 1 (gaussian_diffusion.py passes <c>current_step=i</c> for <c>i in range(num_timesteps)[::-1]</c>) and N is
/// the interval (<c>--cache-threshold</c>, 3 in the authors' README). In this engine's forward step index k
/// (i = numstep − 1 − k): the first step and every step with <c>(numstep − 1 − k) % N == 0</c> compute, so the last step
/// always computes and the computed steps are anchored at the end of the trajectory.
/// </summary>
public sealed class ForaSchedule
{
    /// <param name="interval">N: 1 computes every step.</param>
    /// <param name="steps">The run's step count.</param>
    public ForaSchedule(int interval, int steps)
    {
        if (interval < 1) throw new AccelAesException($"interval: FORA computes every N-th step, N ≥ 1; got {interval}.");
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "a run has at least one step");
        Interval = interval;
        Steps = steps;
    }

    public int Interval { get; }

    public int Steps { get; }

    /// <summary>True when step <paramref name="step"/> (0-based, forward order) runs every block and refreshes the caches.</summary>
    public bool Computes(int step)
    {
        if (step < 0 || step >= Steps) throw new ArgumentOutOfRangeException(nameof(step), step, $"a step of {Steps}");
        int countdown = Steps - 1 - step;
        return countdown == Steps - 1 || countdown % Interval == 0;
    }

    /// <summary>The whole schedule: computed steps <see cref="StepKind.Full"/>, reused ones <see cref="StepKind.Skip"/>.</summary>
    public StepKind[] Kinds() => Enumerable.Range(0, Steps).Select(s => Computes(s) ? StepKind.Full : StepKind.Skip).ToArray();
}
