namespace AccelAes.Engine.Acceleration;

/// <summary>How a skipped step's velocity is predicted from the computed ones.</summary>
public enum ExtrapolationRule
{
    /// <summary>
    /// Linear in σ through the last two computed steps (engine default, DESIGN §5):
    /// <c>v̂(σ) = v_a + (σ − σ_a)·(v_a − v_b)/(σ_a − σ_b)</c>, exact for velocities linear in σ.
    /// </summary>
    LinearInSigma,

    /// <summary>
    /// The paper's form (Eq. 12–13): linear in the step index through the last two computed steps,
    /// <c>v̂(i) = v_a + (i − i_a)·(v_a − v_b)/(i_a − i_b)</c> — coefficient 0.5 for every skip at stride 2, whatever the
    /// σ spacing (on shifted schedules the σ form gives 0.55–0.61).
    /// </summary>
    LinearInStepIndex,

    /// <summary>
    /// The reference code's <c>SkipUpdateCache.get_prediction</c>: <c>2·v_last − v_prev</c> over the last two stored
    /// entries, whatever their spacing. Skipped steps are not stored, so entries are two steps apart after the first
    /// skip and the slope is doubled (accelaes-reference-code.md §7.4). For comparison only.
    /// </summary>
    ReferenceDoubledSlope,
}

/// <summary>
/// One extrapolation, as a backend executes it: <c>v̂ = fma(c, v[Latest] − v[Previous], v[Latest])</c> elementwise in
/// float32 (the difference rounded to float32 first, then one fused multiply-add). <see cref="PreviousSlot"/> is −1
/// when only one computed velocity exists (then <c>v̂ = v[Latest]</c>, as the reference copies its only entry).
/// </summary>
/// <param name="LatestSlot">History slot of the most recent computed velocity (v_a).</param>
/// <param name="PreviousSlot">History slot of the one before it (v_b), or −1.</param>
/// <param name="Coefficient">c: <c>(σ − σ_a)/(σ_a − σ_b)</c>, or <c>(i − i_a)/(i_a − i_b)</c> for the index rule (evaluated in
/// float64, rounded to float32), or 1 for the reference rule.</param>
public readonly record struct ExtrapolationPlan(int LatestSlot, int PreviousSlot, float Coefficient);

/// <summary>
/// StepCache bookkeeping without the data: which history slot holds which computed step and σ, and the plan for a
/// skipped step. A backend keeps <see cref="Capacity"/> velocity buffers on its device, writes the one
/// <see cref="Record"/> names after each computed step, and runs <see cref="Plan"/>'s coefficients in its
/// extrapolation kernel; <see cref="HostStepCache"/> does the same over host arrays.
/// </summary>
public sealed class StepCacheHistory
{
    /// <summary>History slots: the last two computed velocities.</summary>
    public const int Capacity = 2;

    private readonly (int Step, float Sigma)[] _entries = new (int, float)[Capacity];
    private int _count;
    private int _latest = -1;

    public StepCacheHistory(ExtrapolationRule rule) => Rule = rule;

    public ExtrapolationRule Rule { get; }

    /// <summary>How many computed velocities are held (0–2).</summary>
    public int Count => _count;

    /// <summary>The step index of the latest computed velocity, or −1.</summary>
    public int LatestStep => _latest < 0 ? -1 : _entries[_latest].Step;

    /// <summary>
    /// Registers the velocity of computed step <paramref name="step"/> at noise level <paramref name="sigma"/> and
    /// returns the slot to store it in (the older of the two is overwritten).
    /// </summary>
    public int Record(int step, float sigma)
    {
        if (!float.IsFinite(sigma)) throw new ArgumentOutOfRangeException(nameof(sigma), sigma, "σ must be finite");
        if (_latest >= 0 && step <= _entries[_latest].Step)
            throw new InvalidOperationException($"StepCache: step {step} recorded after step {_entries[_latest].Step}; computed steps must be recorded in order.");
        int slot = _latest < 0 ? 0 : (_latest + 1) % Capacity;
        _entries[slot] = (step, sigma);
        _latest = slot;
        _count = Math.Min(_count + 1, Capacity);
        return slot;
    }

    /// <summary>The plan for skipped step <paramref name="step"/> at noise level <paramref name="sigma"/>.</summary>
    /// <exception cref="InvalidOperationException">No computed velocity exists yet, or the two held share one σ.</exception>
    public ExtrapolationPlan Plan(int step, float sigma)
    {
        if (_count == 0) throw new InvalidOperationException("StepCache: a step cannot be skipped before any step was computed.");
        if (_count == 1) return new ExtrapolationPlan(_latest, -1, 0f);
        int previous = (_latest + Capacity - 1) % Capacity;
        if (Rule == ExtrapolationRule.ReferenceDoubledSlope) return new ExtrapolationPlan(_latest, previous, 1f);
        if (Rule == ExtrapolationRule.LinearInStepIndex)
        {
            int ia = _entries[_latest].Step, ib = _entries[previous].Step;
            if (step <= ia) throw new InvalidOperationException($"StepCache: step {step} is extrapolated after computed step {ia}; skipped steps come after the steps they extend.");
            return new ExtrapolationPlan(_latest, previous, (float)((double)(step - ia) / (ia - ib)));
        }

        double sa = _entries[_latest].Sigma, sb = _entries[previous].Sigma;
        if (sa == sb)
            throw new InvalidOperationException($"StepCache: steps {_entries[previous].Step} and {_entries[_latest].Step} have the same σ ({sa}); no slope in σ exists.");
        return new ExtrapolationPlan(_latest, previous, (float)((sigma - sa) / (sa - sb)));
    }

    /// <summary>Forgets every computed velocity.</summary>
    public void Clear()
    {
        _count = 0;
        _latest = -1;
    }
}

/// <summary>The StepCache arithmetic over float spans; the backend's extrapolation kernel mirrors it exactly.</summary>
public static class StepCacheMath
{
    /// <summary><c>dst[i] = fma(c, latest[i] − previous[i], latest[i])</c> in float32.</summary>
    public static void Extrapolate(ReadOnlySpan<float> latest, ReadOnlySpan<float> previous, float coefficient, Span<float> destination)
    {
        if (latest.Length != previous.Length || latest.Length != destination.Length)
            throw new ArgumentException($"StepCache: velocity lengths differ ({latest.Length}, {previous.Length}, {destination.Length}).");
        for (int i = 0; i < latest.Length; i++)
        {
            float a = latest[i];
            destination[i] = MathF.FusedMultiplyAdd(coefficient, a - previous[i], a);
        }
    }
}

/// <summary>StepCache over host arrays: the last two computed velocities and the extrapolation of skipped steps.</summary>
public sealed class HostStepCache
{
    private readonly float[][] _slots = new float[StepCacheHistory.Capacity][];

    public HostStepCache(ExtrapolationRule rule, int length)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length));
        History = new StepCacheHistory(rule);
        Length = length;
        for (int i = 0; i < _slots.Length; i++) _slots[i] = new float[length];
    }

    public StepCacheHistory History { get; }

    /// <summary>Elements per velocity.</summary>
    public int Length { get; }

    /// <summary>Stores a copy of the velocity of computed step <paramref name="step"/>.</summary>
    public void Store(int step, float sigma, ReadOnlySpan<float> velocity)
    {
        if (velocity.Length != Length) throw new ArgumentException($"StepCache holds velocities of {Length} values, got {velocity.Length}.");
        int slot = History.Record(step, sigma);
        velocity.CopyTo(_slots[slot]);
    }

    /// <summary>Writes the predicted velocity of step <paramref name="step"/> at noise level <paramref name="sigma"/> into <paramref name="destination"/>.</summary>
    public void Extrapolate(int step, float sigma, Span<float> destination)
    {
        if (destination.Length != Length) throw new ArgumentException($"StepCache holds velocities of {Length} values, got a destination of {destination.Length}.");
        ExtrapolationPlan plan = History.Plan(step, sigma);
        if (plan.PreviousSlot < 0)
        {
            _slots[plan.LatestSlot].CopyTo(destination);
            return;
        }

        StepCacheMath.Extrapolate(_slots[plan.LatestSlot], _slots[plan.PreviousSlot], plan.Coefficient, destination);
    }

    /// <summary>The predicted velocity of step <paramref name="step"/> at <paramref name="sigma"/>, newly allocated.</summary>
    public float[] Extrapolate(int step, float sigma)
    {
        var v = new float[Length];
        Extrapolate(step, sigma, v);
        return v;
    }
}
