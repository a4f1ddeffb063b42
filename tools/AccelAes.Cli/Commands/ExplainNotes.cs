using System.Globalization;
using AccelAes.Engine.Acceleration;

namespace AccelAes.Cli.Commands;

/// <summary>
/// The sentences `accelaes explain` adds under a schedule, where the engine's defaults and the paper differ in a way a
/// user comparing against the paper would otherwise have to find in the reference notes.
/// </summary>
internal static class ExplainNotes
{
    /// <param name="options">The resolved options.</param>
    /// <param name="schedule">Their schedule.</param>
    /// <param name="scheduleOf">Builds the schedule of other options on the same σ schedule and cost model.</param>
    public static IEnumerable<string> For(AccelerationOptions options, StepSchedule schedule, Func<AccelerationOptions, StepSchedule> scheduleOf)
    {
        var inv = CultureInfo.InvariantCulture;
        if (options.UsesMask)
        {
            string layers = options.CaptureLayers is { } list ? $"layers {string.Join(",", list)}"
                : options.CaptureLayerStride == 1 ? "every layer (layers=all, the paper's Eq. 6)"
                : $"every {Ordinal(options.CaptureLayerStride)} layer (layers=every:{options.CaptureLayerStride}, the reference code's choice, which produced the paper's tables)";
            yield return $"AesMask captures attention on {layers}" +
                         (options.CaptureLayerStride == 1 && options.CaptureLayers is null ? "." : "; the paper's Eq. 6 averages over all of them: --set layers=all.");
        }

        if (options.SpatialGuidanceNote is { } guidance) yield return guidance;

        if (options.UsesTemporalTeaCache)
        {
            var forced = new SortedDictionary<int, string> { [0] = "first" };
            foreach (int m in schedule.IndicesOf(StepKind.FullCaptureMask)) forced[m] = "mask capture";
            foreach (int c in schedule.IndicesOf(StepKind.FullFillCache)) forced.TryAdd(c, "cache fill");
            forced[options.Steps - 1] = forced.ContainsKey(options.Steps - 1) ? forced[options.Steps - 1] + ", last" : "last";
            string steps = string.Join(", ", forced.Select(kv => $"{kv.Key} ({kv.Value})"));
            yield return $"temporal=teacache (rel_l1_thresh {options.EffectiveRelL1Threshold.ToString("R", inv)}): the steps below are the spatial plan " +
                         "and its cost an upper bound; TeaCache decides during the run which of them reuse the cached residual instead of StepCache's fixed stride. Rule: " +
                         ExplainTeaCache.Rule($"steps {steps}") +
                         " A reused step after a sparse one reuses that sparse forward's residual (focus rows fresh, background rows from the last fill's caches); " +
                         "generate reports the executed schedule (X = reused).";
            yield return ExplainTeaCache.Polynomial(options.TeaCacheRescale);
        }

        // Table 4's ≈ 46 % skip ratio is StepCache alone with warmup 2 (the reference's fskip runs), not the method with
        // the warmup 5 the paper states (accelaes-reference-code.md §4.2).
        if (options.Preset == AccelerationPreset.AccelAes && options.Interval == 2 && schedule.SkippedCount > 0)
        {
            StepSchedule stepCacheOnly = scheduleOf(options with { MaskStep = null, SpatialCfg = false, SkipSparse = false, Refresh = 0, Warmup = 2 });
            yield return $"Skip ratio {schedule.TheoreticalSkipRatio.ToString("P1", inv)} with warmup {options.Warmup} (the paper's stated warmup 5, scaled to {options.Steps} steps). " +
                         $"The paper's Table 4 quotes ≈ 46 %: that is StepCache alone with warmup 2 (the reference code's runs), which skips " +
                         $"{stepCacheOnly.TheoreticalSkipRatio.ToString("P1", inv)} here (--accel stepcache).";
        }
    }

    private static string Ordinal(int n) => n switch { 2 => "2nd", 3 => "3rd", _ => $"{n}th" };
}
