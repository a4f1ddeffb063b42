using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;

namespace AccelAes.Engine.Planning;

/// <summary>
/// The residency policy a generation runs under, with the plan it was decided from (null when no plan was made) and a
/// line for the user saying what was checked against what.
/// </summary>
public sealed record ResidencyDecision(ResidencyPolicy Policy, MemoryPlan? Plan, string Note)
{
    /// <summary>A warning to show (an explicit policy the plan says will not fit), or null.</summary>
    public string? Warning { get; init; }
}

/// <summary>
/// DESIGN §8 for <c>generate</c> and the C ABI: the memory plan of the run is made from the model folder's configs and
/// safetensors headers before any weight loads, against the memory given or the backend's free device memory, and
/// decides the residency policy (auto: the plan's choice) — or refuses the run, naming what would make it fit.
/// <para>On the CPU backend there is no device to fit: its tensors are fp32 in host memory the OS can page, so the
/// plan's bf16 device bytes say nothing useful about it (half the real size, and no hard limit to fail against). It
/// is planned only against a typed limit (<c>--memory</c>); otherwise all-resident, and the note says so.</para>
/// </summary>
public static class GenerationResidency
{
    /// <param name="requested">The typed policy (<c>--offload</c>), or null for the plan's choice.</param>
    /// <param name="memoryBytes">A typed limit (<c>--memory</c>), or null for the backend's free device memory.</param>
    /// <param name="option">How the policy option is spelled in messages (<c>--offload</c> on the CLI).</param>
    /// <param name="weights">The weights the run loads (<c>--weights</c>): fp8 plans the transformer's Linear weights at 1 byte.</param>
    public static ResidencyDecision Decide(string folder, string? variant, GenerationRequest request, IBackend backend,
        ResidencyPolicy? requested, long? memoryBytes, string option = "--offload", WeightPrecision weights = WeightPrecision.AsStored)
        => Decide(() => ModelFolder.Open(folder), variant, request, backend, requested, memoryBytes, option, weights);

    /// <summary>As above for a model already opened (a single file composed with <c>--components</c>: weights from the file's header).</summary>
    public static ResidencyDecision Decide(ModelFolder folder, string? variant, GenerationRequest request, IBackend backend,
        ResidencyPolicy? requested, long? memoryBytes, string option = "--offload", WeightPrecision weights = WeightPrecision.AsStored)
        => Decide(() => folder, variant, request, backend, requested, memoryBytes, option, weights);

    private static ResidencyDecision Decide(Func<ModelFolder> folder, string? variant, GenerationRequest request, IBackend backend,
        ResidencyPolicy? requested, long? memoryBytes, string option, WeightPrecision weights)
    {
        var (limit, source) = Limit(backend, memoryBytes);
        if (limit is null && requested is { } typed)
            return new ResidencyDecision(typed, null, $"residency {typed.Name()} ({option}); memory not checked: {source}");
        if (limit is null)
            return new ResidencyDecision(ResidencyPolicy.None, null, $"residency none (every component resident); memory not checked: {source}");

        MemoryPlan plan;
        try
        {
            plan = MemoryPlanner.Plan(PlanRequest(folder(), variant, request, limit.Value, weights));
        }
        catch (AccelAesException e)
        {
            // A folder the planner cannot read fails loading with the loader's own message; say the check was skipped.
            var fallback = requested ?? ResidencyPolicy.None;
            return new ResidencyDecision(fallback, null, $"residency {fallback.Name()}; no memory plan: {e.Message}");
        }
        string peaks = string.Join(", ", plan.Policies.Select(p => $"{p.Policy.Name()} {ByteSize.Gib(p.PeakBytes)}"));
        string against = $"{ByteSize.Gib(limit.Value)} ({source})";
        if (requested is { } explicitPolicy)
        {
            long peak = plan.Policies.First(p => p.Policy == explicitPolicy).PeakBytes;
            var decision = new ResidencyDecision(explicitPolicy, plan, $"residency {explicitPolicy.Name()} ({option}): planned peak {ByteSize.Gib(peak)} of {against}");
            if (peak <= limit) return decision;
            string better = plan.Chosen is { } chosen && chosen.RuntimeSupports() ? $"{option} {chosen.Name()} fits"
                : (plan.Remedy ?? plan.RunnableRemedy) is { } change ? $"it would fit with {change}" : "no single change tried makes it fit";
            return decision with
            {
                Warning = $"The memory plan puts the peak under {option} {explicitPolicy.Name()} at {ByteSize.Gib(peak)}, above {against} " +
                          $"(peaks: {peaks}; {better}); running as asked: an estimate can be pessimistic, and the device says no with an out-of-memory error if it is not.",
            };
        }
        if (plan.Chosen is { } policy && policy.RuntimeSupports())
            return new ResidencyDecision(policy, plan, $"residency {policy.Name()} (chosen by the memory plan): peak {ByteSize.Gib(plan.PeakBytes)} of {against}");
        if (plan.Chosen is { } planned)
            throw new MemoryPlanException(
                $"The run fits in {against} only with {option} {planned.Name()} (peak {ByteSize.Gib(plan.PeakBytes)}; peaks: {peaks}), which is planned but not implemented " +
                $"in generation yet; " + (plan.RunnableRemedy is { } runnable ? $"it runs with {runnable}." : "no single change tried (fp8 weights, two-pass CFG, smaller sizes) makes it fit otherwise."));
        throw new MemoryPlanException(
            $"The run does not fit in {against} under any residency policy (peaks: {peaks}; see `accelaes plan --model`); nothing was loaded. " +
            (plan.Remedy is { } remedy ? $"It would fit with {remedy}." : "No single change tried (fp8 weights, two-pass CFG, smaller sizes down to 256 px) makes it fit."));
    }

    /// <summary>The typed limit, else the CUDA backend's free memory, else none (CPU: see the class remarks).</summary>
    private static (long? Bytes, string Source) Limit(IBackend backend, long? typed)
    {
        if (typed is not null) return (typed, "--memory");
        if (backend is CudaBackend cuda)
        {
            var (free, _) = cuda.MemoryInfo();
            return ((long)Math.Min(free, (ulong)ByteSize.MaxBytes), $"free memory of {cuda.Name} {cuda.Device.Name}");
        }
        return (null, $"the {backend.Name} backend keeps fp32 tensors in host memory, which the device plan does not model (give --memory to plan anyway)");
    }

    /// <summary>The plan request of <paramref name="request"/> on the model in <paramref name="folder"/>, sizes defaulted as the pipelines default them.</summary>
    public static MemoryPlanRequest PlanRequest(string folder, string? variant, GenerationRequest request, long limit,
        WeightPrecision weights = WeightPrecision.AsStored)
        => PlanRequest(ModelFolder.Open(folder), variant, request, limit, weights);

    /// <summary>The plan request of <paramref name="request"/> on <paramref name="folder"/> (a folder, or a single file composed with its components).</summary>
    public static MemoryPlanRequest PlanRequest(ModelFolder folder, string? variant, GenerationRequest request, long limit,
        WeightPrecision weights = WeightPrecision.AsStored)
    {
        ModelArchitecture architecture = ModelArchitectures.FromFolder(folder);
        int unit = architecture.PixelsPerToken;
        int defaultSide = architecture.Config.Sd3?.SampleSize * Sd3Pipeline.VaeScaleFactor
            ?? architecture.Config.Lumina?.SampleSize * LuminaPipeline.VaeScaleFactor
            ?? FluxTextToImage.DefaultSampleSize * FluxPipeline.VaeScaleFactor;
        // Sizes the request validation will refuse later are planned at the nearest size it would take.
        int width = Math.Max(unit, (request.Width ?? defaultSide) / unit * unit), height = Math.Max(unit, (request.Height ?? defaultSide) / unit * unit);
        var options = request.Acceleration.IsNone ? null
            : request.Acceleration.Resolve(architecture.Backbone, request.Steps ?? architecture.Defaults.Steps,
                request.GuidanceScale ?? architecture.Defaults.GuidanceScale, new ImageTokenGrid(height / unit, width / unit));
        var components = FolderComponents.Of(folder, PlanInputs.TextTokens(architecture), variant);
        return new MemoryPlanRequest(architecture, components, width, height, request.GuidanceMode == GuidanceMode.Batched,
            options?.SkipSparse ?? false, options?.SparseFeedForward ?? false, weights, limit)
        {
            StepGraphs = options is null ? 1 : PlanInputs.StepGraphsKept(architecture, options, width, height),
        };
    }
}
