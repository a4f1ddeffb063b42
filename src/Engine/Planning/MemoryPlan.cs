namespace AccelAes.Engine.Planning;

/// <summary>Device bytes in each phase under one policy; the peak is the largest plus the runtime reserve.</summary>
public sealed record PolicyPeak(ResidencyPolicy Policy, long EncodeBytes, long DenoiseBytes, long DecodeBytes, long ReserveBytes)
{
    public long PeakBytes => Math.Max(EncodeBytes, Math.Max(DenoiseBytes, DecodeBytes)) + ReserveBytes;
}

/// <summary>
/// The memory plan of one generation: weights per component, activations per phase, the peak under each policy, the
/// first policy that fits the memory given (null when none does, or when no limit was given: then <see cref="ResidencyPolicy.None"/>
/// is reported), and the change that would make a failing run fit.
/// </summary>
public sealed record MemoryPlan(MemoryPlanRequest Request, IReadOnlyList<(PlannedComponent Component, long Bytes)> Weights,
    long LargestBlockBytes, PhaseActivations Activations, IReadOnlyList<PolicyPeak> Policies, ResidencyPolicy? Chosen, string? Remedy)
{
    public bool HasLimit => Request.MemoryBytes is not null;

    /// <summary>True when some policy fits the limit (or no limit was given).</summary>
    public bool Fits => !HasLimit || Chosen is not null;

    /// <summary>The policy the plan reports: the chosen one, or all-resident when there is no limit or nothing fits.</summary>
    public ResidencyPolicy Policy => Chosen ?? ResidencyPolicy.None;

    public long PeakBytes => Policies.First(p => p.Policy == Policy).PeakBytes;

    /// <summary>When the chosen policy is not implemented in the runtime yet: the change that makes the run fit all-resident.</summary>
    public string? RunnableRemedy { get; init; }

    public long TotalWeightBytes => Weights.Sum(w => w.Bytes);
}
