using System.Globalization;
using System.Text;
using System.Text.Json;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Fora;

namespace AccelAes.Cli.Commands;

/// <summary>`accelaes explain --accel fora`: FORA's schedule is static, so explain prints all of it and the rule that made it.</summary>
internal static class ExplainFora
{
    public static void Show(AccelerationOptions options, int steps, bool json)
    {
        var schedule = new ForaSchedule(options.Interval, steps);
        StepKind[] kinds = schedule.Kinds();
        string letters = new([.. kinds.Select(k => k.Letter())]);
        int[] computed = Enumerable.Range(0, steps).Where(schedule.Computes).ToArray();
        string rule = $"step k computes iff k = 0 or (steps − 1 − k) mod interval = 0 (the official rule counts steps down, so the last step " +
                      "always computes); a computing step runs every block and caches each block's attention and MLP outputs (before their " +
                      "gates); the steps between run the embeddings, each block's adaLN modulation and norm_out / proj_out, adding the " +
                      "cached outputs through this step's gates.";
        if (json)
        {
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("policy", "fora");
                w.WriteBoolean("dynamic", false);
                w.WriteNumber("steps", steps);
                w.WriteNumber("interval", options.Interval);
                w.WriteString("schedule", letters);
                w.WriteStartArray("computed_steps");
                foreach (int s in computed) w.WriteNumberValue(s);
                w.WriteEndArray();
                w.WriteString("rule", rule);
                w.WriteEndObject();
            }
            Console.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
            return;
        }
        var inv = CultureInfo.InvariantCulture;
        Ui.Info($"fora (interval {options.Interval.ToString(inv)}, {steps} steps): a static policy; schedule {letters} " +
                $"(F computes every block, X reuses each block's cached attention and MLP outputs): {computed.Length} of {steps} steps compute.");
        Ui.Info("rule: " + rule);
    }
}
