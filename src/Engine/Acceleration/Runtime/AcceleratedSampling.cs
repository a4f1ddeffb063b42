using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Acceleration.TeaCache;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.Runtime;

/// <summary>The geometry an accelerated run needs from its pipeline.</summary>
/// <param name="GridHeight">Token grid rows (latent height / patch).</param>
/// <param name="GridWidth">Token grid columns.</param>
/// <param name="LatentHeight">Latent rows (the spatial guidance map's resolution).</param>
/// <param name="LatentWidth">Latent columns.</param>
/// <param name="CaptureLayerCount">Layers AesMask may capture from (Lumina: all, SD3: joint blocks, FLUX: double-stream blocks).</param>
public sealed record AccelerationGeometry(int GridHeight, int GridWidth, int LatentHeight, int LatentWidth, int CaptureLayerCount)
{
    public int ImageTokens => GridHeight * GridWidth;
}

/// <summary>A backbone's velocity under acceleration: the model forwards see <see cref="SparseForward"/>; guidance asks for the step's scale map.</summary>
public interface IAcceleratedPredictor
{
    /// <summary>
    /// The velocity of computed step <paramref name="step"/> (guidance and sign applied). Call
    /// <see cref="SparseForward.BeginForward"/> before each forward, and <paramref name="guidance"/> after the
    /// forwards (on the mask step it builds the mask from the forward's capture, and that step is guided by it).
    /// </summary>
    Tensor Predict(Tensor latents, int step, SigmaSchedule sigmas, SparseForward sparse, Func<GuidanceScaleMap> guidance);
}

/// <summary>What an accelerated run did.</summary>
/// <param name="ActiveTokens">Per step, the image tokens the step computed (RAS); null for the policies that compute all or none.</param>
public sealed record AcceleratedRunReport(StepSchedule Schedule, FocusMask? Mask, int[] StepsRun, int SparseForwards, int Skipped, long PeakCacheBytes,
    IReadOnlyList<int>? ActiveTokens = null);

/// <summary>
/// The AccelAes sampling loop: the step schedule decides per step whether to run the transformer (dense, capture,
/// cache-fill or sparse) or to skip it and extrapolate the velocity (StepCache); the mask built at the mask step
/// drives SkipSparse's focus set and spatial guidance. Integrates x ← x + (σᵢ₊₁ − σᵢ)·v in fp32, like
/// <see cref="DenoiseLoop"/>, which it equals when every step is Full.
/// Under <c>temporal=teacache</c> the schedule has no skips (interval 1); instead every step's forward asks
/// <see cref="TemporalTeaCache"/> whether its block stack runs or reuses the cached residual (the capture and fill
/// steps always run), and the report's schedule marks the reused steps Skip.
/// </summary>
public static class AcceleratedSampling
{
    public static AcceleratedRunReport Run(Tensor latents, SigmaSchedule sigmas, AccelerationOptions options, AccelerationGeometry geometry,
        IAcceleratedPredictor predictor, float[] textWeights, Action<int, Tensor>? onStep = null)
    {
        // The grid is known here at the latest: a mask that cannot fit it is refused before the first step, not at the mask step.
        options = (options with { TokenGrid = new ImageTokenGrid(geometry.GridHeight, geometry.GridWidth) }).Validated();
        IBackend be = latents.Backend;
        var cost = SparseCostModel.For(options.Backbone, geometry.ImageTokens);
        StepSchedule schedule = StepSchedule.Create(options, sigmas, cost);
        var history = new StepCacheHistory(options.Extrapolation);
        var slots = new Tensor?[StepCacheHistory.Capacity];
        var sparse = new SparseForward(options.SparseFeedForward);
        TemporalTeaCache? tea = options.UsesTemporalTeaCache
            ? new TemporalTeaCache(new TeaCacheBlocks(new TeaCacheRule(options.EffectiveRelL1Threshold, sigmas.Steps, options.TeaCacheRescale)))
            : null;
        sparse.TeaCache = tea;
        var reused = new List<int>();
        using var check = new NonFiniteCheck(be, sigmas.Steps, (i, bad) =>
            $"Step {i} ({schedule[i].Kind}, σ = {sigmas.Sigmas[i]:G5}) produced {bad} non-finite latent values; sampling stopped.");
        FocusMask? mask = null;
        var run = new List<int>();
        int sparseForwards = 0, skipped = 0;
        long peakCache = 0;
        try
        {
            for (int i = 0; i < sigmas.Steps; i++)
            {
                using var stepRange = be.Range($"step {i + 1}/{sigmas.Steps}");
                StepScheduleEntry entry = schedule[i];
                Tensor v;
                if (entry.Kind == StepKind.Skip)
                {
                    ExtrapolationPlan plan = history.Plan(i, sigmas.Sigmas[i]);
                    v = be.Extrapolate(slots[plan.LatestSlot]!, slots[plan.PreviousSlot]!, plan.Coefficient);
                    skipped++;
                }
                else
                {
                    AffinityCapture? capture = entry.Kind == StepKind.FullCaptureMask
                        ? new AffinityCapture(new AesMaskBuilder(options, geometry.CaptureLayerCount, geometry.GridHeight, geometry.GridWidth, textWeights), textWeights)
                        : null;
                    sparse.BeginStep(entry.Kind, capture);
                    // The capture and fill forwards must run: the mask and the SkipSparse caches come from them.
                    tea?.BeginStep(i, forceCompute: entry.Kind is StepKind.FullCaptureMask or StepKind.FullFillCache);
                    int step = i;
                    GuidanceScaleMap Guidance()
                    {
                        if (capture is not null && mask is null) mask = Finish(capture, ref schedule, sparse, geometry);
                        return SpatialGuidance.ForStep(options, step, mask, geometry.LatentHeight, geometry.LatentWidth);
                    }
                    v = predictor.Predict(latents, i, sigmas, sparse, Guidance);
                    if (capture is not null && mask is null) mask = Finish(capture, ref schedule, sparse, geometry);
                    if (tea?.Decision is { Computed: false })
                    {
                        reused.Add(i);
                    }
                    else
                    {
                        if (entry.Kind == StepKind.Sparse) sparseForwards++;
                        // A copy: v may be a replayed graph's output, which the next replay rewrites.
                        slots[history.Record(i, sigmas.Sigmas[i])] = be.Copy(v);
                        run.Add(i);
                    }
                    peakCache = Math.Max(peakCache, sparse.CacheBytes);
                }
                be.EulerStepInPlace(latents, v, sigmas.StepSize(i));
                check.After(i, latents);
                onStep?.Invoke(i, latents);
            }
            check.Flush(sigmas.Steps - 1);
        }
        finally
        {
            sparse.Release();
        }
        if (reused.Count > 0) schedule = schedule.WithReusedSteps(reused);
        return new AcceleratedRunReport(schedule, mask, [.. run], sparseForwards, skipped + reused.Count,
            peakCache + (tea?.Blocks.StateBytes ?? 0));
    }

    /// <summary>Builds the mask after the capture forward and adapts the schedule and focus set to it.</summary>
    private static FocusMask Finish(AffinityCapture capture, ref StepSchedule schedule, SparseForward sparse, AccelerationGeometry geometry)
    {
        FocusMask mask = capture.Builder.Build();
        if (mask.Fallback)
        {
            schedule = schedule.WithMaskFallback();
            sparse.SetFocus(null, geometry.ImageTokens);
        }
        else
        {
            schedule = schedule.WithFocusFraction(mask.FocusFraction);
            sparse.SetFocus(mask.FocusIndices, geometry.ImageTokens);
        }
        return mask;
    }
}
