using System.Globalization;
using System.Text;
using System.Text.Json;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.TaylorSeer;

namespace AccelAes.Cli.Commands;

/// <summary>`accelaes explain --accel taylorseer`: TaylorSeer's schedule is static, so explain prints all of it and its forecast.</summary>
internal static class ExplainTaylorSeer
{
    public static void Show(AccelerationOptions options, int steps, bool json)
    {
        var schedule = new TaylorSeerSchedule(options.Interval, options.Warmup, steps);
        string letters = new([.. schedule.Kinds().Select(k => k.Letter())]);
        int[] computed = Enumerable.Range(0, steps).Where(schedule.Computes).ToArray();
        string rule = $"step k computes iff k < warmup (first_enhance) or (k − (warmup − 1)) mod interval = 0 (fresh_threshold); a computing " +
                      "step runs every block and updates, for each block's attention and MLP outputs (before their gates), the Taylor factors " +
                      "f₀ = feature, fᵢ₊₁ = (fᵢ − fᵢ at the previous computed step) / steps between them, up to max_order (derivatives only after " +
                      "step warmup − 2, as the official code); the steps between add Σ fᵢ·xⁱ / i! (x = steps since the last computed step) through " +
                      "this step's gates.";
        if (json)
        {
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("policy", "taylorseer");
                w.WriteBoolean("dynamic", false);
                w.WriteNumber("steps", steps);
                w.WriteNumber("interval", options.Interval);
                w.WriteNumber("max_order", options.TaylorOrder);
                w.WriteNumber("warmup", options.Warmup);
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
        Ui.Info($"taylorseer (interval {options.Interval.ToString(inv)}, max_order {options.TaylorOrder.ToString(inv)}, warmup {options.Warmup.ToString(inv)}, " +
                $"{steps} steps): a static policy; schedule {letters} (F computes every block, X forecasts each block's attention and MLP outputs): " +
                $"{computed.Length} of {steps} steps compute.");
        Ui.Info("rule: " + rule);
    }
}
