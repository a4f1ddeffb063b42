namespace AccelAes.Engine.Acceleration.Ras;

/// <summary>
/// RAS's schedule for one run, as the official code decides it (microsoft/RAS src/ras/utils/ras_manager.py,
/// <c>generate_skip_token_list</c> and <c>increase_step</c>, at commit a9c5ec8fb2147ef450a7e3b5ec3b7bdd0006de3f):
/// <list type="bullet">
/// <item>a step s is a RAS step iff <c>scheduler_start_step ≤ s &lt; scheduler_end_step</c> and s is not an error-reset
/// step (the official selection for step s runs only under that condition);</item>
/// <item>the dense step <c>scheduler_start_step − 1</c> and every error-reset step fill the key/value caches;</item>
/// <item>the dropped-token count of a RAS step: static (<c>skip_num_step_length</c> 0) the average
/// <c>int((1 − sample_ratio)·N)</c>; dynamic, for step k in block i = k / L, <c>avg + skip_num_step·(i − ((steps + start) / L) / 2)</c>
/// rounded down to a multiple of 64 tokens.</item>
/// </list>
/// Beyond the official code, for token grids other than its 4096 tokens: the 64-token rounding and the
/// <c>auto</c> <c>skip_num_step</c> (256) scale with N/4096 (unchanged at 4096 tokens); counts are clamped to
/// [0, N − 1] (the official code asserts [0, N]; at least one token is computed); and <c>sample_ratio</c> 1 drops no
/// token on any step, as the official code (which then runs no RAS step at all) computes every token.
/// </summary>
public sealed class RasStepSchedule
{
    private readonly int[] _dropped;
    private readonly HashSet<int> _resets;

    public RasStepSchedule(RasSettings settings, int steps, int tokens)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "a run has at least one step");
        if (tokens < 1) throw new ArgumentOutOfRangeException(nameof(tokens), tokens, "an image has at least one token");
        Settings = settings;
        Steps = steps;
        Tokens = tokens;
        _resets = [.. settings.ErrorResetSteps];
        _dropped = new int[steps];
        int[] counts = DropCounts(settings, steps, tokens);
        for (int s = 0; s < steps; s++) _dropped[s] = IsRasStep(s) ? counts[s] : 0;
    }

    public RasSettings Settings { get; }

    public int Steps { get; }

    /// <summary>Image tokens N of the run.</summary>
    public int Tokens { get; }

    /// <summary>True when step <paramref name="step"/> recomputes only its selected tokens.</summary>
    public bool IsRasStep(int step) => step >= Settings.StartStep && step < Settings.EndStep && step < Steps && !_resets.Contains(step);

    /// <summary>True when dense step <paramref name="step"/> stores every token's keys and values for the RAS steps after it.</summary>
    public bool FillsCaches(int step) => !IsRasStep(step) && (step == Settings.StartStep - 1 || _resets.Contains(step));

    /// <summary>Tokens step <paramref name="step"/> drops before the high/low split (0 on dense steps).</summary>
    public int Dropped(int step) => _dropped[step];

    /// <summary>Tokens step <paramref name="step"/> recomputes: N less the dropped ones the high/low split keeps (<see cref="RasTokenSelection.Split"/>).</summary>
    public int Active(int step)
    {
        var (low, high) = RasTokenSelection.Split(_dropped[step], Settings.HighRatio);
        return Tokens - low - high;
    }

    /// <summary>The official <c>skip_token_num_list</c> over every step (before the RAS-step condition).</summary>
    private static int[] DropCounts(RasSettings s, int steps, int tokens)
    {
        var counts = new int[steps];
        if (s.SampleRatio >= 1) return counts;
        int average = (int)((1 - s.SampleRatio) * tokens);
        int length = s.SkipNumStepLength;
        if (length == 0)
        {
            Array.Fill(counts, Clamp(average, tokens));
            return counts;
        }
        double scale = (double)tokens / RasSettings.ReferenceTokens;
        int change = s.SkipNumStep ?? (int)Math.Round(256 * scale, MidpointRounding.AwayFromZero);
        int granule = Math.Max(1, (int)Math.Round(64 * scale, MidpointRounding.AwayFromZero));
        int middle = (steps + s.StartStep) / length / 2;
        for (int k = 0; k < steps; k++)
        {
            long value = average + (long)change * (k / length - middle); // knobs up to ±10⁶ tokens over 10⁴ steps overflow an int
            counts[k] = Clamp(FloorTo(value, granule), tokens);
        }
        return counts;
    }

    /// <summary>Python's <c>(v // g) * g</c>: floor division, also for negative v.</summary>
    private static long FloorTo(long value, int granule) => (long)Math.Floor(value / (double)granule) * granule;

    private static int Clamp(long count, int tokens) => (int)Math.Clamp(count, 0, tokens - 1);
}
