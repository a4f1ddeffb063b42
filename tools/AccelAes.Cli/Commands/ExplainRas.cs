using System.Globalization;
using System.Text;
using System.Text.Json;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Ras;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `accelaes explain --accel ras`: which tokens RAS computes is decided from each step's velocity, so explain prints the
/// rule and the knobs; how many it computes per step follows from the knobs and the token count, so that plan is printed too.
/// </summary>
internal static class ExplainRas
{
    public static void Show(AccelerationOptions options, int steps, int tokens, bool json)
    {
        var inv = CultureInfo.InvariantCulture;
        RasSettings ras = options.Ras;
        var plan = new RasStepSchedule(ras, steps, tokens);
        var kinds = Enumerable.Range(0, steps)
            .Select(s => plan.IsRasStep(s) ? StepKind.Sparse : plan.FillsCaches(s) ? StepKind.FullFillCache : StepKind.Full).ToArray();
        int[] active = Enumerable.Range(0, steps).Select(s => plan.IsRasStep(s) ? plan.Active(s) : tokens).ToArray();
        string rule = $"steps {ras.StartStep}–{Math.Min(ras.EndStep, steps) - 1} except the error-reset steps are RAS steps; the dense step " +
                      "scheduler_start_step − 1 and each error-reset step store every layer's image keys and values. After each step whose " +
                      "next step is a RAS step, each image token is scored by the " + RasSettings.MetricName(ras.Metric) +
                      " over channels of that step's update Δσ·v (v the guided velocity), averaged over its patch, times exp(starvation_scale · " +
                      "times the token was dropped); of the next step's dropped count d, int(d·(1 − high_ratio)) lowest-scored and int(d·high_ratio) " +
                      "highest-scored tokens are dropped. A RAS step runs every block on the other tokens only (their keys and values refresh " +
                      "the cache; attention reads the whole cache) and the dropped tokens keep the previous step's output. sample_ratio 1 drops none.";
        if (json)
        {
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("policy", "ras");
                w.WriteBoolean("dynamic", true);
                w.WriteNumber("steps", steps);
                w.WriteNumber("image_tokens", tokens);
                w.WriteStartObject("knobs");
                foreach (var (knob, value) in ras.KnobValues()) w.WriteString(knob, value);
                w.WriteEndObject();
                w.WriteStartArray("schedule");
                foreach (var kind in kinds) w.WriteStringValue(kind.JsonName());
                w.WriteEndArray();
                w.WriteStartArray("active_tokens");
                foreach (int a in active) w.WriteNumberValue(a);
                w.WriteEndArray();
                w.WriteString("rule", rule);
                w.WriteEndObject();
            }
            Console.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
            return;
        }
        Ui.Info($"ras ({string.Join(", ", ras.KnobValues().Select(kv => $"{kv.Key} {kv.Value}"))}; {steps} steps, {tokens} image tokens): " +
                "a dynamic policy; which tokens each step computes is known only during the run, how many is planned below.");
        Ui.Info("rule: " + rule);
        var table = Ui.Table("step", "kind", "active tokens");
        for (int s = 0; s < steps; s++) table.AddCells(s, kinds[s], active[s]);
        Ui.Show(table);
        double cost = active.Average(a => (double)a / tokens);
        Ui.Info($"mean active fraction {cost.ToString("F3", inv)} (a RAS step's blocks scale with its active tokens; attention reads all {tokens} keys).");
    }
}
