using System.Globalization;
using System.Text;
using System.Text.Json;
using AccelAes.Engine.Acceleration;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `accelaes explain --accel fbcache`: FBCache decides each step from the run's own block-0 residual, so no schedule
/// exists before the run; explain prints the rule and the threshold.
/// </summary>
internal static class ExplainFirstBlockCache
{
    public static void Show(AccelerationOptions options, int steps, bool json)
    {
        var inv = CultureInfo.InvariantCulture;
        string threshold = options.ResidualDiffThreshold.ToString("R", inv);
        string warmup = options.Warmup > 0 ? $"steps 0–{options.Warmup - 1} (warmup) compute; " : "";
        string rule = warmup + "every step runs transformer block 0 and takes its image residual r = block0(x) − x; the first step computes; " +
                      "at every later step, if mean|r_ref − r| / mean|r_ref| < residual_diff_threshold (r_ref: block 0's residual at the last " +
                      "computed step, over the whole batch) the step adds the remaining blocks' residual cached at that step to block 0's " +
                      "output, otherwise it runs every remaining block, caches their residual and makes r the new r_ref; " +
                      "norm_out / proj_out always run with this step's temb. Threshold 0 never reuses.";
        if (json)
        {
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("policy", "fbcache");
                w.WriteBoolean("dynamic", true);
                w.WriteNumber("steps", steps);
                w.WriteNumber("residual_diff_threshold", options.ResidualDiffThreshold);
                w.WriteNumber("warmup", options.Warmup);
                w.WriteString("rule", rule);
                w.WriteEndObject();
            }
            Console.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
            return;
        }
        Ui.Info($"fbcache (residual_diff_threshold {threshold}, {steps} steps): a dynamic policy; which steps reuse is known only after a run " +
                "(generate reports it: X = block 0 run, the remaining blocks' cached residual reused).");
        Ui.Info("rule: " + rule);
        Ui.Info($"the default {AccelerationOptions.DefaultResidualDiffThreshold.ToString("R", inv)} is ParaAttention's for FLUX (doc/fastest_flux.md); " +
                "larger values reuse more.");
    }
}
