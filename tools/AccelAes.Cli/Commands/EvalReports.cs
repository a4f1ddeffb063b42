using System.Globalization;
using System.Text;
using AccelAes.Engine.Evaluation;
using AccelAes.Engine.Evaluation.Runs;
using AccelAes.Loader.Files;

namespace AccelAes.Cli.Commands;

/// <summary>
/// The summary of an evaluation in the paper's column order — Time, Speedup, CLIP, ImageReward, HPS, Aesth, Edge —
/// then fidelity to dense (PSNR, SSIM): on the console, as summary.json and summary.md, and one speed–quality scatter
/// plot per metric (plots/&lt;metric&gt;.png).
/// </summary>
internal static class EvalReports
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static void Show(IReadOnlyList<MethodSummary> rows, IReadOnlyList<MetricEntry> metrics)
    {
        var table = Ui.Table([.. Headings(metrics)]);
        foreach (string[] cells in Cells(rows)) table.AddCells(cells);
        Ui.Show(table);
        Ui.Info($"Δ: paired difference to dense (same prompt and seed), mean [bootstrap 95 % interval, {PairedBootstrap.Resamples} resamples, seed {PairedBootstrap.Seed}]. "
                + "SSIM: Gaussian 11×11, σ 1.5, on luma (Wang et al. 2004, as scikit-image).");
    }

    public static void WriteFiles(string folder, IReadOnlyList<MethodSummary> rows, IReadOnlyList<MetricEntry> metrics, int prompts, IReadOnlyList<ulong> seeds)
    {
        JsonFiles.Write(Path.Combine(folder, "summary.json"), w =>
        {
            w.WriteStartObject();
            w.WriteNumber("prompts", prompts);
            w.WriteStartArray("seeds");
            foreach (ulong s in seeds) w.WriteNumberValue(s);
            w.WriteEndArray();
            w.WriteStartObject("bootstrap");
            w.WriteNumber("resamples", PairedBootstrap.Resamples);
            w.WriteNumber("seed", PairedBootstrap.Seed);
            w.WriteString("interval", "percentile 2.5–97.5 of the resampled mean paired differences");
            w.WriteEndObject();
            w.WriteString("ssim", "Gaussian window 11x11, sigma 1.5, K1 0.01, K2 0.03, L 255, on luma 0.299R+0.587G+0.114B, reflect borders, mean over the map cropped by 5 (scikit-image structural_similarity, gaussian_weights=True)");
            w.WriteStartArray("methods");
            foreach (MethodSummary row in rows)
            {
                w.WriteStartObject();
                w.WriteString("method", row.Method);
                w.WriteNumber("images", row.Images);
                JsonFiles.Number(w, "seconds", row.MeanSeconds);
                JsonFiles.Number(w, "speedup", row.Speedup);
                w.WriteStartObject("metrics");
                foreach (MetricSummary m in row.Metrics)
                {
                    w.WriteStartObject(m.Name);
                    JsonFiles.Number(w, "mean", m.Mean);
                    if (m.VersusDense is { } d)
                    {
                        w.WriteStartObject("vs_dense");
                        JsonFiles.Number(w, "mean", d.Mean);
                        JsonFiles.Number(w, "ci_low", d.Low);
                        JsonFiles.Number(w, "ci_high", d.High);
                        w.WriteNumber("pairs", d.Pairs);
                        w.WriteEndObject();
                    }
                    w.WriteEndObject();
                }
                w.WriteEndObject();
                if (row.MeanPsnr is double.PositiveInfinity) w.WriteString("psnr", EvalRecord.Infinity);
                else if (row.MeanPsnr is double psnr) JsonFiles.Number(w, "psnr", psnr);
                else w.WriteNull("psnr");
                if (row.MeanSsim is double ssim) JsonFiles.Number(w, "ssim", ssim);
                else w.WriteNull("ssim");
                w.WriteNumber("identical_to_dense", row.IdenticalToDense);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }, "--out");

        var md = new StringBuilder();
        string[] headings = [.. Headings(metrics)];
        md.Append("| ").Append(string.Join(" | ", headings)).Append(" |\n");
        md.Append('|').Append(string.Concat(headings.Select(_ => "---|"))).Append('\n');
        foreach (string[] cells in Cells(rows)) md.Append("| ").Append(string.Join(" | ", cells)).Append(" |\n");
        md.Append(Inv, $"\n{prompts} prompts × {seeds.Count} seeds ({string.Join(", ", seeds)}). Time: mean seconds per image (generation only, model loaded). ")
          .Append("Speedup: dense mean time / method mean time over the same (prompt, seed) pairs. ")
          .Append(Inv, $"Δ: paired difference to dense, mean [bootstrap 95 % interval: {PairedBootstrap.Resamples} resamples, seed {PairedBootstrap.Seed}, percentiles 2.5 / 97.5]. ")
          .Append("PSNR (dB, RGB) and SSIM (Gaussian 11×11, σ 1.5, luma; Wang et al. 2004 as scikit-image computes it) against the dense image of the same prompt and seed; ")
          .Append("PSNR averages the images that differ from it (identical ones are counted in summary.json).\n");
        OutputFile.WriteAllBytes(Path.Combine(folder, "summary.md"), "--out", Encoding.UTF8.GetBytes(md.ToString()));

        string plots = Path.Combine(folder, "plots");
        Directory.CreateDirectory(plots);
        foreach (MetricEntry metric in metrics)
            ScatterPlotPng.Write(Path.Combine(plots, metric.Name + ".png"), metric.Column, rows, metric.Name);
    }

    private static IEnumerable<string> Headings(IReadOnlyList<MetricEntry> metrics) =>
        ["method", "images", "Time (s)", "Speedup", .. metrics.Select(m => m.Column), "PSNR (dB)", "SSIM"];

    private static IEnumerable<string[]> Cells(IReadOnlyList<MethodSummary> rows) => rows.Select(row => (string[])
    [
        row.Method,
        row.Images.ToString(Inv),
        Number(row.MeanSeconds, "F3"),
        double.IsFinite(row.Speedup) ? row.Speedup.ToString("F2", Inv) + "×" : "–",
        .. row.Metrics.Select(m => Number(m.Mean, "F4") + (m.VersusDense is { } d
            ? string.Create(Inv, $" (Δ {d.Mean:+0.0000;-0.0000;0.0000} [{d.Low:+0.0000;-0.0000;0.0000}, {d.High:+0.0000;-0.0000;0.0000}])") : "")),
        row.MeanPsnr is double.PositiveInfinity ? "∞" : row.MeanPsnr is double p ? p.ToString("F2", Inv) : "–",
        row.MeanSsim is double s ? s.ToString("F4", Inv) : "–",
    ]);

    private static string Number(double value, string format) => double.IsFinite(value) ? value.ToString(format, Inv) : "–";
}
