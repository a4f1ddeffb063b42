namespace AccelAes.Engine.Acceleration;

/// <summary>
/// A schedule as one letter per step, for records that must stay short (the C ABI's <c>schedule</c> string):
/// F full, M full + mask capture, C full + cache fill, S sparse, X skipped (StepCache: velocity extrapolated; TeaCache: cached residual reused; FBCache: block 0 run, the
/// remaining blocks' cached residual reused; FORA: each block's cached attention and MLP outputs reused; TaylorSeer: forecast).
/// </summary>
public static class StepScheduleLetters
{
    /// <summary>The letter of <paramref name="kind"/>.</summary>
    public static char Letter(this StepKind kind) => kind switch
    {
        StepKind.Full => 'F',
        StepKind.FullCaptureMask => 'M',
        StepKind.FullFillCache => 'C',
        StepKind.Sparse => 'S',
        StepKind.Skip => 'X',
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown step kind"),
    };

    /// <summary>One letter per step, in step order.</summary>
    public static string ToLetters(this StepSchedule schedule) => new([.. schedule.Steps.Select(s => s.Kind.Letter())]);

    /// <summary>A dense run of <paramref name="steps"/> steps: every step full.</summary>
    public static string Dense(int steps) => new('F', steps);
}
