using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Sampling;

namespace AccelAes.Engine.Acceleration.Policies;

/// <summary>
/// The compute / reuse bookkeeping every caching policy shares (TeaCache, FBCache, FORA, TaylorSeer): one entry per step, in step
/// order, and the run report built from it. A policy decides; this records what it decided, so the executed schedule
/// is reported the same way whatever the rule was.
/// </summary>
public sealed class ExecutedSteps
{
    private readonly List<bool> _computed = [];

    /// <summary>True at each step whose transformer body ran, false where the policy reused its cache.</summary>
    public IReadOnlyList<bool> Computed => _computed;

    /// <summary>Records step <paramref name="step"/> (steps come in order, 0 first).</summary>
    public void Record(int step, bool computed)
    {
        if (step != _computed.Count)
            throw new InvalidOperationException($"A caching policy records steps in order: expected step {_computed.Count}, got {step}.");
        _computed.Add(computed);
    }

    /// <summary>
    /// The executed schedule as a run report: computed steps <see cref="StepKind.Full"/>, reused ones
    /// <see cref="StepKind.Skip"/>; <paramref name="stateBytes"/> is what the policy held between steps.
    /// </summary>
    public AcceleratedRunReport Report(SigmaSchedule sigmas, long stateBytes)
    {
        var kinds = _computed.Select(c => c ? StepKind.Full : StepKind.Skip).ToArray();
        var schedule = StepSchedule.Executed(kinds, sigmas.Sigmas);
        int[] run = Enumerable.Range(0, kinds.Length).Where(i => _computed[i]).ToArray();
        return new AcceleratedRunReport(schedule, null, run, 0, kinds.Length - run.Length, stateBytes);
    }
}
