using System.Globalization;
using System.Text;
using System.Text.Json;
using AccelAes.Engine.Acceleration;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `explain` for a caching policy whose schedule is fixed before the run (FORA, TaylorSeer): the whole schedule, the
/// steps that compute, the policy's knobs and its rule, as text or as JSON
/// (<c>{"policy", "dynamic": false, "steps", knobs…, "schedule", "computed_steps", "rule"}</c>; a policy that caches a
/// range of blocks also <c>"cached_blocks_per_step"</c>: [first, end) per step, [] where every block runs).
/// </summary>
internal static class ExplainStaticPolicy
{
    /// <param name="knobs">The policy's knobs in the order they are printed (JSON fields and the summary's parenthesis).</param>
    /// <param name="reused">What an X step does, for the text summary.</param>
    /// <param name="cachedBlocks">For a policy that caches a range of blocks (Δ-DiT): the range [First, End) each step
    /// stands in for, empty where every block runs; null for the others.</param>
    public static void Show(string policy, int steps, IReadOnlyList<(string Name, int Value)> knobs, Func<int, bool> computes,
        string reused, string rule, bool json, Func<int, (int First, int End)>? cachedBlocks = null)
    {
        string letters = new([.. Enumerable.Range(0, steps).Select(s => (computes(s) ? StepKind.Full : StepKind.Skip).Letter())]);
        int[] computed = Enumerable.Range(0, steps).Where(computes).ToArray();
        if (json)
        {
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("policy", policy);
                w.WriteBoolean("dynamic", false);
                w.WriteNumber("steps", steps);
                foreach (var (name, value) in knobs) w.WriteNumber(name, value);
                w.WriteString("schedule", letters);
                w.WriteStartArray("computed_steps");
                foreach (int s in computed) w.WriteNumberValue(s);
                w.WriteEndArray();
                if (cachedBlocks is not null)
                {
                    w.WriteStartArray("cached_blocks_per_step");
                    for (int s = 0; s < steps; s++)
                    {
                        var (first, end) = cachedBlocks(s);
                        w.WriteStartArray();
                        if (end > first)
                        {
                            w.WriteNumberValue(first);
                            w.WriteNumberValue(end);
                        }
                        w.WriteEndArray();
                    }
                    w.WriteEndArray();
                }
                w.WriteString("rule", rule);
                w.WriteEndObject();
            }
            Console.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
            return;
        }
        string settings = string.Join(", ", knobs.Select(k => $"{k.Name} {k.Value.ToString(CultureInfo.InvariantCulture)}"));
        Ui.Info($"{policy} ({settings}, {steps} steps): a static policy; schedule {letters} (F computes every block, X {reused}): " +
                $"{computed.Length} of {steps} steps compute.");
        Ui.Info("rule: " + rule);
        if (cachedBlocks is null) return;
        var table = Ui.Table("step", "kind", "cached blocks");
        for (int s = 0; s < steps; s++)
        {
            var (first, end) = cachedBlocks(s);
            table.AddCells(s, letters[s].ToString(), end > first ? $"{first}–{end - 1}" : "none (every block runs)");
        }
        Ui.Show(table);
    }
}
