using System.Text.Json;
using System.Text.Json.Serialization;
using AccelAes.Engine.Sampling;

namespace AccelAes.Engine.Acceleration;

/// <summary>One denoising step of a schedule.</summary>
/// <param name="Index">0-based step index.</param>
/// <param name="Kind">What the step does.</param>
/// <param name="Sigma">σ at the start of the step (the Euler step goes from σᵢ to σᵢ₊₁).</param>
public readonly record struct StepScheduleEntry(int Index, StepKind Kind, float Sigma);

/// <summary>
/// The acceleration plan of one run as data: one entry per step (Full, FullCaptureMask, FullFillCache, Sparse,
/// Skip), computed from <see cref="AccelerationOptions"/> before sampling; counts, the theoretical skip ratio and
/// the expected relative cost follow from it. <c>accelaes explain</c> prints it; the denoising loop follows it.
/// </summary>
/// <remarks>
/// <para><b>Engine rules</b> (<see cref="ScheduleStyle.Engine"/>, DESIGN §5): steps before <c>warmup</c> are full; the
/// mask step is <see cref="StepKind.FullCaptureMask"/> and, with SkipSparse, the step after it is
/// <see cref="StepKind.FullFillCache"/>, both always computed; from step <c>warmup</c> on, position
/// <c>r = i − warmup</c> is computed iff <c>r % interval == interval − 1</c> (so interval 2 alternates skip, compute,
/// starting with a skip, and interval 1 never skips); a step is never skipped before two steps were computed
/// (linear extrapolation needs two). Computed steps after the fill step are <see cref="StepKind.Sparse"/>; with
/// <c>refresh = R</c> every R-th computed step after a fill is a <see cref="StepKind.FullFillCache"/> (a dense
/// background refresh, which rewrites the caches).</para>
/// <para><b>Reference rules</b> (<see cref="ScheduleStyle.Reference"/>) reproduce the step lists of the reference
/// code (accelaes-reference-code.md §4.2), see <see cref="ScheduleStyle"/>.</para>
/// <para><b>Cost</b>: full steps cost 1, skipped steps 0, sparse steps <c>sparseCost(f)</c> of
/// <see cref="SparseCostModel"/> at focus fraction f, with the FFN dense under <c>sparse_ffn</c> off (before the mask exists: <c>1 − skip_ratio</c>;
/// <see cref="WithFocusFraction"/> updates it once the mask is known). Capture and cache writes are not costed.</para>
/// </remarks>
public sealed class StepSchedule
{
    private readonly StepScheduleEntry[] _steps;

    private StepSchedule(StepScheduleEntry[] steps, double sparseStepCost, double? focusFraction, SparseCostModel? costModel)
    {
        _steps = steps;
        SparseStepCost = sparseStepCost;
        FocusFraction = focusFraction;
        CostModel = costModel;
        foreach (var s in steps)
        {
            switch (s.Kind)
            {
                case StepKind.Skip: SkippedCount++; break;
                case StepKind.Sparse: SparseCount++; break;
                default: FullCount++; break;
            }
        }
    }

    /// <summary>One entry per step, in order.</summary>
    public IReadOnlyList<StepScheduleEntry> Steps => _steps;

    /// <summary>Number of steps.</summary>
    public int Count => _steps.Length;

    /// <summary>The entry of step <paramref name="index"/>.</summary>
    public StepScheduleEntry this[int index] => _steps[index];

    /// <summary>Dense forwards (Full, FullCaptureMask, FullFillCache).</summary>
    public int FullCount { get; }

    /// <summary>Sparse forwards.</summary>
    public int SparseCount { get; }

    /// <summary>Skipped steps (no forward).</summary>
    public int SkippedCount { get; }

    /// <summary>Forwards run: full + sparse.</summary>
    public int ComputedCount => FullCount + SparseCount;

    /// <summary>Skipped / total.</summary>
    public double TheoreticalSkipRatio => Count == 0 ? 0 : (double)SkippedCount / Count;

    /// <summary>Cost of one sparse forward relative to a dense one, as used by <see cref="RelativeCost"/>.</summary>
    public double SparseStepCost { get; }

    /// <summary>The focus fraction the sparse cost was evaluated at (null when given as a cost directly).</summary>
    public double? FocusFraction { get; }

    /// <summary>The cost model behind <see cref="SparseStepCost"/>, if any.</summary>
    public SparseCostModel? CostModel { get; }

    /// <summary>Expected cost relative to dense sampling: (full + sparse·sparseCost) / steps.</summary>
    public double RelativeCost => Count == 0 ? 0 : (FullCount + SparseCount * SparseStepCost) / Count;

    /// <summary>1 / <see cref="RelativeCost"/>: the ideal speed-up of the transformer part.</summary>
    public double ExpectedSpeedup => 1 / RelativeCost;

    /// <summary>The indices of the steps with a given kind.</summary>
    public int[] IndicesOf(StepKind kind) => _steps.Where(s => s.Kind == kind).Select(s => s.Index).ToArray();

    /// <summary>The indices of the computed (not skipped) steps.</summary>
    public int[] ComputedIndices => _steps.Where(s => s.Kind.IsComputed()).Select(s => s.Index).ToArray();

    /// <summary>Builds the schedule of a run from the scheduler's σ values.</summary>
    public static StepSchedule Create(AccelerationOptions options, SigmaSchedule sigmas, SparseCostModel? costModel = null, double? focusFraction = null)
    {
        ArgumentNullException.ThrowIfNull(sigmas);
        return Create(options, sigmas.Steps, sigmas.Sigmas, costModel, focusFraction);
    }

    /// <summary>
    /// Builds the schedule of <paramref name="steps"/> steps; <paramref name="sigmas"/> holds σ per step (the terminal 0
    /// may follow). <paramref name="costModel"/> defaults to <see cref="SparseCostModel.For(Backbone, int)"/> of the backbone
    /// at 1024², and is costed with the options' <c>sparse_ffn</c> (attention-only sparsity saves less);
    /// <paramref name="focusFraction"/> to <c>1 − skip_ratio</c>.
    /// </summary>
    /// <exception cref="AccelAesException">Invalid options (the message names the knob), or too few σ values.</exception>
    public static StepSchedule Create(AccelerationOptions options, int steps, ReadOnlySpan<float> sigmas, SparseCostModel? costModel = null, double? focusFraction = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options = (options with { Steps = steps }).Validated();
        if (sigmas.Length < steps) throw new AccelAesException($"The schedule has {steps} steps but only {sigmas.Length} σ values were given.");
        StepKind[] kinds = options.Schedule == ScheduleStyle.Reference ? ReferenceKinds(options, steps) : EngineKinds(options, steps);
        var entries = new StepScheduleEntry[steps];
        for (int i = 0; i < steps; i++) entries[i] = new StepScheduleEntry(i, kinds[i], sigmas[i]);

        // The run's sparse_ffn decides which FLOPs a sparse forward saves, whatever model the caller passed.
        costModel = (costModel ?? SparseCostModel.For(options.Backbone)).WithSparseFeedForward(options.SparseFeedForward);
        double f = focusFraction ?? 1 - options.SkipRatio;
        return new StepSchedule(entries, costModel.SparseCost(f), f, costModel);
    }

    private static StepKind[] EngineKinds(AccelerationOptions o, int steps)
    {
        int? mask = o.MaskStep;
        int? fill = o.SkipSparse && mask is int m ? m + 1 : null;
        var kinds = new StepKind[steps];
        int computed = 0, sinceFill = 0;
        for (int i = 0; i < steps; i++)
        {
            StepKind kind;
            if (i == mask) kind = StepKind.FullCaptureMask;
            else if (i == fill) kind = StepKind.FullFillCache;
            else if (o.Interval > 1 && i >= o.Warmup && (i - o.Warmup) % o.Interval != o.Interval - 1 && computed >= 2) kind = StepKind.Skip;
            else if (fill is int fl && i > fl) kind = o.Refresh > 0 && sinceFill + 1 == o.Refresh ? StepKind.FullFillCache : StepKind.Sparse;
            else kind = StepKind.Full;

            if (kind.IsComputed()) computed++;
            if (kind == StepKind.FullFillCache) sinceFill = 0;
            else if (kind == StepKind.Sparse) sinceFill++;
            kinds[i] = kind;
        }

        return kinds;
    }

    private static StepKind[] ReferenceKinds(AccelerationOptions o, int steps)
    {
        int k = o.Interval;
        var kinds = new StepKind[steps];
        int computed = 0;
        for (int i = 0; i < steps; i++)
        {
            StepKind kind;
            if (o.MaskStep is int m)
            {
                int s = i - (m + 1);
                if (i == m) kind = StepKind.FullCaptureMask;
                else if (k > 1 && s >= 2 && s % k == 0 && computed >= 1) kind = StepKind.Skip;
                else if (!o.SkipSparse || s < 0) kind = StepKind.Full;
                else if (s == 0) kind = StepKind.FullFillCache;
                else if (o.Refresh > 0 && (s < 2 || s % o.Refresh == 0)) kind = StepKind.FullFillCache;
                else kind = StepKind.Sparse;
            }
            else
            {
                kind = k > 1 && i >= o.Warmup && (i - o.Warmup) % k == 0 && computed >= 1 ? StepKind.Skip : StepKind.Full;
            }

            if (kind.IsComputed()) computed++;
            kinds[i] = kind;
        }

        return kinds;
    }

    /// <summary>
    /// The schedule a dynamic policy executed (TeaCache decides each step during the run): dense kinds and skips as
    /// given, σ per step from <paramref name="sigmas"/>; no cost model (a skip costs 0, any other step 1).
    /// </summary>
    public static StepSchedule Executed(IReadOnlyList<StepKind> kinds, ReadOnlySpan<float> sigmas)
    {
        ArgumentNullException.ThrowIfNull(kinds);
        if (sigmas.Length < kinds.Count) throw new ArgumentException($"{kinds.Count} steps need as many σ values; got {sigmas.Length}.");
        if (kinds.Any(k => k == StepKind.Sparse)) throw new ArgumentException("An executed dense-or-skip schedule has no sparse step.");
        var entries = new StepScheduleEntry[kinds.Count];
        for (int i = 0; i < entries.Length; i++) entries[i] = new StepScheduleEntry(i, kinds[i], sigmas[i]);
        return new StepSchedule(entries, 1, null, null);
    }

    /// <summary>
    /// An executed schedule whose sparse steps computed only some tokens (RAS): <paramref name="sparseStepCost"/> is their
    /// mean cost relative to a dense step (their mean active-token fraction).
    /// </summary>
    public static StepSchedule Executed(IReadOnlyList<StepKind> kinds, ReadOnlySpan<float> sigmas, double sparseStepCost)
    {
        ArgumentNullException.ThrowIfNull(kinds);
        if (sigmas.Length < kinds.Count) throw new ArgumentException($"{kinds.Count} steps need as many σ values; got {sigmas.Length}.");
        var entries = new StepScheduleEntry[kinds.Count];
        for (int i = 0; i < entries.Length; i++) entries[i] = new StepScheduleEntry(i, kinds[i], sigmas[i]);
        return new StepSchedule(entries, sparseStepCost, null, null);
    }

    /// <summary>
    /// The schedule as executed when a dynamic temporal rule (temporal=teacache) reused the steps in
    /// <paramref name="reused"/>: those become <see cref="StepKind.Skip"/> (no transformer body), the rest stay as planned
    /// (dense, capture, fill or sparse); the cost model stays, so the relative cost counts what ran.
    /// </summary>
    public StepSchedule WithReusedSteps(IReadOnlyCollection<int> reused)
    {
        var steps = _steps.Select(s => reused.Contains(s.Index) ? s with { Kind = StepKind.Skip } : s).ToArray();
        return new StepSchedule(steps, SparseStepCost, FocusFraction, CostModel);
    }

    /// <summary>The same schedule costed at another focus fraction (e.g. the mask's actual one).</summary>
    public StepSchedule WithFocusFraction(double focusFraction)
    {
        SparseCostModel model = CostModel ?? throw new InvalidOperationException("This schedule has no cost model (it was read from JSON).");
        return new StepSchedule(_steps, model.SparseCost(focusFraction), focusFraction, model);
    }

    /// <summary>
    /// The schedule to follow when the mask fell back (flat heat map: every token in focus): sparse steps and
    /// cache fills become plain full steps; capture and skips stay.
    /// </summary>
    public StepSchedule WithMaskFallback()
    {
        var steps = _steps.Select(s => s.Kind is StepKind.Sparse or StepKind.FullFillCache ? s with { Kind = StepKind.Full } : s).ToArray();
        return new StepSchedule(steps, SparseStepCost, FocusFraction, CostModel);
    }

    /// <summary>
    /// <c>{"steps": [{"index", "kind", "sigma"}…], "full", "sparse", "skipped", "relative_cost"}</c>; kinds are
    /// <see cref="StepKinds.JsonName"/>. Source-generated serialisation (NativeAOT-safe).
    /// </summary>
    public string ToJson(bool indented = false)
    {
        var doc = new StepScheduleDocument(
            _steps.Select(s => new StepScheduleEntryDocument(s.Index, s.Kind.JsonName(), s.Sigma)).ToList(),
            FullCount, SparseCount, SkippedCount, RelativeCost);
        if (!indented) return JsonSerializer.Serialize(doc, AccelerationJsonContext.Default.StepScheduleDocument);
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
            JsonSerializer.Serialize(writer, doc, AccelerationJsonContext.Default.StepScheduleDocument);
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Reads <see cref="ToJson"/>'s format back; the counts must agree with the steps.</summary>
    public static StepSchedule FromJson(string json)
    {
        StepScheduleDocument doc;
        try
        {
            doc = JsonSerializer.Deserialize(json, AccelerationJsonContext.Default.StepScheduleDocument)
                  ?? throw new AccelAesException("The step schedule JSON is null.");
        }
        catch (JsonException e)
        {
            throw new AccelAesException($"The step schedule JSON cannot be read: {e.Message}", e);
        }

        if (doc.Steps is null) throw new AccelAesException("The step schedule JSON has no \"steps\" list.");
        var steps = new StepScheduleEntry[doc.Steps.Count];
        for (int i = 0; i < steps.Length; i++)
        {
            var s = doc.Steps[i];
            if (s.Index != i) throw new AccelAesException($"The step schedule JSON lists step {s.Index} at position {i}.");
            steps[i] = new StepScheduleEntry(i, StepKinds.ParseJsonName(s.Kind ?? ""), s.Sigma);
        }

        int sparse = steps.Count(s => s.Kind == StepKind.Sparse), skipped = steps.Count(s => s.Kind == StepKind.Skip);
        int full = steps.Length - sparse - skipped;
        if (doc.Full != full || doc.Sparse != sparse || doc.Skipped != skipped)
            throw new AccelAesException($"The step schedule JSON's counts (full {doc.Full}, sparse {doc.Sparse}, skipped {doc.Skipped}) disagree with its steps ({full}, {sparse}, {skipped}).");
        double sparseCost = sparse == 0 ? 1 : (doc.RelativeCost * steps.Length - full) / sparse;
        return new StepSchedule(steps, sparseCost, null, null);
    }
}

internal sealed record StepScheduleEntryDocument(int Index, string Kind, float Sigma);

internal sealed record StepScheduleDocument(List<StepScheduleEntryDocument> Steps, int Full, int Sparse, int Skipped, double RelativeCost);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(StepScheduleDocument))]
internal sealed partial class AccelerationJsonContext : JsonSerializerContext;
