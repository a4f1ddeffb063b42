namespace AccelAes.Engine.Evaluation.Runs;

/// <summary>One metric of one method: its mean and, for an accelerated method, the paired difference to dense.</summary>
public sealed record MetricSummary(string Name, double Mean, PairedDifference? VersusDense);

/// <summary>
/// One method's row of the summary: images, mean generation time, speed-up over dense (the ratio of mean times over
/// the (prompt, seed) pairs both have), each metric, and fidelity to dense (mean PSNR over the images that differ
/// from their dense one, <see cref="IdenticalToDense"/> counting the rest; mean SSIM over all).
/// </summary>
public sealed record MethodSummary(string Method, int Images, double MeanSeconds, double Speedup, IReadOnlyList<MetricSummary> Metrics,
    double? MeanPsnr, double? MeanSsim, int IdenticalToDense);

/// <summary>The summary of an evaluation, from its ledger: one row per method, dense first.</summary>
public static class EvalSummary
{
    public static IReadOnlyList<MethodSummary> Compute(IEnumerable<EvalRecord> records, IReadOnlyList<string> methods, IReadOnlyList<string> metrics)
    {
        var byMethod = records.GroupBy(r => r.Method).ToDictionary(g => g.Key, g => g.ToDictionary(r => (r.PromptIndex, r.Seed)));
        byMethod.TryGetValue(EvalMethod.Dense, out var dense);
        var rows = new List<MethodSummary>();
        foreach (string method in methods.OrderBy(m => m == EvalMethod.Dense ? 0 : 1))
        {
            if (!byMethod.TryGetValue(method, out var mine) || mine.Count == 0)
            {
                rows.Add(new MethodSummary(method, 0, double.NaN, double.NaN, [.. metrics.Select(m => new MetricSummary(m, double.NaN, null))], null, null, 0));
                continue;
            }
            bool isDense = method == EvalMethod.Dense;
            var paired = dense is null || isDense ? [] : mine.Keys.Where(dense.ContainsKey).ToArray();
            double speedup = isDense ? 1
                : paired.Length == 0 ? double.NaN
                : paired.Average(k => dense![k].Seconds) / paired.Average(k => mine[k].Seconds);
            var metricRows = new List<MetricSummary>();
            foreach (string metric in metrics)
            {
                double[] values = [.. mine.Values.Select(r => r.Metrics.GetValueOrDefault(metric, double.NaN)).Where(double.IsFinite)];
                PairedDifference? diff = null;
                if (!isDense && dense is not null)
                {
                    double[] differences = [.. paired
                        .Select(k => mine[k].Metrics.GetValueOrDefault(metric, double.NaN) - dense[k].Metrics.GetValueOrDefault(metric, double.NaN))
                        .Where(double.IsFinite)];
                    diff = PairedBootstrap.Compute(differences);
                }
                metricRows.Add(new MetricSummary(metric, values.Length == 0 ? double.NaN : values.Average(), diff));
            }
            double[] psnr = [.. mine.Values.Select(r => r.Psnr ?? double.NaN).Where(double.IsFinite)];
            double[] ssim = [.. mine.Values.Select(r => r.Ssim ?? double.NaN).Where(double.IsFinite)];
            int identical = mine.Values.Count(r => r.Psnr is double.PositiveInfinity);
            rows.Add(new MethodSummary(method, mine.Count, mine.Values.Average(r => r.Seconds), speedup, metricRows,
                isDense ? null : psnr.Length > 0 ? psnr.Average() : identical > 0 ? double.PositiveInfinity : null,
                isDense || ssim.Length == 0 ? null : ssim.Average(), identical));
        }
        return rows;
    }
}
