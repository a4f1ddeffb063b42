namespace AccelAes.Engine.Acceleration.TaylorSeer;

/// <summary>
/// TaylorSeer's static schedule (Liu et al., "From Reusing to Forecasting: Accelerating Diffusion Models with
/// TaylorSeers"), as its official FLUX code decides it (Shenyi-Z/TaylorSeer TaylorSeer-FLUX/src/flux/modules/
/// cache_functions/cal_type.py and cache_init.py, mode 'Taylor', at commit 288776dfd0cbb6e201c654c31cd22139f848a6cf):
/// the first <c>first_enhance</c> steps compute; after them a counter reset by every computed step makes every
/// <c>fresh_threshold</c>-th step compute, so step k computes iff <c>k &lt; first_enhance</c> or
/// <c>(k − (first_enhance − 1)) mod fresh_threshold = 0</c>.
/// </summary>
public sealed class TaylorSeerSchedule
{
    /// <param name="interval"><c>fresh_threshold</c> (N): 1 computes every step.</param>
    /// <param name="firstEnhance"><c>first_enhance</c>: the steps at the start that always compute (≥ 1).</param>
    /// <param name="steps">The run's step count.</param>
    public TaylorSeerSchedule(int interval, int firstEnhance, int steps)
    {
        if (interval < 1) throw new AccelAesException($"interval: TaylorSeer computes every N-th step, N ≥ 1; got {interval}.");
        if (firstEnhance < 1) throw new AccelAesException($"warmup: TaylorSeer's first_enhance computes at least step 0; got {firstEnhance}.");
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "a run has at least one step");
        Interval = interval;
        FirstEnhance = firstEnhance;
        Steps = steps;
    }

    public int Interval { get; }

    public int FirstEnhance { get; }

    public int Steps { get; }

    public bool Computes(int step)
    {
        if (step < 0 || step >= Steps) throw new ArgumentOutOfRangeException(nameof(step), step, $"a step of {Steps}");
        return step < FirstEnhance || (step - (FirstEnhance - 1)) % Interval == 0;
    }

    /// <summary>The whole schedule: computed steps <see cref="StepKind.Full"/>, forecast ones <see cref="StepKind.Skip"/>.</summary>
    public StepKind[] Kinds() => Enumerable.Range(0, Steps).Select(s => Computes(s) ? StepKind.Full : StepKind.Skip).ToArray();
}
