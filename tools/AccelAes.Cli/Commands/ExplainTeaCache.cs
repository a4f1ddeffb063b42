using System.Globalization;
using System.Text;
using System.Text.Json;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.TeaCache;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `accelaes explain --accel teacache`: TeaCache decides each step from the run's own activations, so no schedule
/// exists before the run; explain prints the rule, the threshold and the coefficients instead of inventing one.
/// Also the rule's sentence for `--accel accelaes --set temporal=teacache` (<see cref="ExplainNotes"/>).
/// </summary>
internal static class ExplainTeaCache
{
    /// <summary>The decision rule in words; <paramref name="alwaysComputed"/> names the steps that always compute.</summary>
    public static string Rule(string alwaysComputed) =>
        $"{alwaysComputed} always compute; at every other step acc += poly(rel_l1), where rel_l1 = mean|m − m_prev| / mean|m_prev| " +
        "of transformer block 0's timestep-modulated input m over the whole batch (the CFG batch included: one decision for " +
        "both branches); while acc < rel_l1_thresh the step reuses the residual of the last computed step (added to this " +
        "step's embedded image tokens, then the output layer), otherwise it computes every block and acc resets to 0.";

    /// <summary>The polynomial and where it comes from, in one sentence.</summary>
    public static string Polynomial(TeaCacheRescale rescale) =>
        $"poly = np.poly1d([{string.Join(", ", rescale.Coefficients.Select(c => c.ToString("R", CultureInfo.InvariantCulture)))}]), from {rescale.Name}.";

    public static void Show(AccelerationOptions options, int steps, bool json)
    {
        var inv = CultureInfo.InvariantCulture;
        string threshold = options.EffectiveRelL1Threshold.ToString("R", inv);
        TeaCacheRescale rescale = options.TeaCacheRescale;
        string rule = Rule($"steps 0 and {steps - 1}");
        if (json)
        {
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("policy", "teacache");
                w.WriteBoolean("dynamic", true);
                w.WriteNumber("steps", steps);
                w.WriteNumber("rel_l1_thresh", options.EffectiveRelL1Threshold);
                w.WriteStartArray("coefficients");
                foreach (double c in rescale.Coefficients) w.WriteNumberValue(c);
                w.WriteEndArray();
                w.WriteString("coefficients_source", rescale.Name);
                w.WriteString("rule", rule);
                w.WriteEndObject();
            }
            Console.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
            return;
        }
        Ui.Info($"teacache (rel_l1_thresh {threshold}, {steps} steps): a dynamic policy; which steps it skips is known only after a run " +
                "(generate reports it: X = cached residual reused).");
        Ui.Info("rule: " + rule);
        Ui.Info(Polynomial(rescale));
        Ui.Info(options.Backbone switch
        {
            Backbone.Flux => "the official demo's thresholds for FLUX.1-dev: 0.25 ≈ 1.5×, 0.4 ≈ 1.8×, 0.6 ≈ 2.0× (the default), 0.8 ≈ 2.25× speed-up; 0 never skips.",
            Backbone.Lumina => "the official demo's thresholds for Lumina-Next-SFT: 0.2 ≈ 1.5×, 0.3 ≈ 1.9× (the default), 0.4 ≈ 2.4×, 0.5 ≈ 2.8× speed-up; 0 never skips.",
            _ => "SD3 has no official TeaCache coefficients or thresholds: the default polynomial is fitted on the tiny random-weight model " +
                 "(fit your own on the real model and pass coefficients=a,b,c,d,e); 0 never skips.",
        });
    }
}
