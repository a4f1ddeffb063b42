using System.Text;
using System.Text.Json;

namespace AccelAes.Engine.Evaluation.Runs;

/// <summary>
/// One line of the per-image JSONL: which image (prompt, seed, method, file), how long it took to generate, its
/// metrics, and its fidelity to the dense image of the same prompt and seed (null for the dense image itself; PSNR
/// "inf" when the two images are identical).
/// </summary>
public sealed record EvalRecord(string Key, int PromptIndex, string Prompt, ulong Seed, string Method, string Image, double Seconds,
    IReadOnlyDictionary<string, double> Metrics, double? Psnr, double? Ssim)
{
    /// <summary>The record as one JSON line (no newline).</summary>
    public string ToJsonLine()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("key", Key);
            w.WriteNumber("prompt_index", PromptIndex);
            w.WriteString("prompt", Prompt);
            w.WriteNumber("seed", Seed);
            w.WriteString("method", Method);
            w.WriteString("image", Image.Replace('\\', '/'));
            w.WriteNumber("seconds", Seconds);
            w.WriteStartObject("metrics");
            foreach (var (name, value) in Metrics) WriteNumber(w, name, value);
            w.WriteEndObject();
            WriteNumber(w, "psnr", Psnr);
            WriteNumber(w, "ssim", Ssim);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The record of one JSONL line, or null when the line is not a complete record (a line cut by a kill).</summary>
    public static EvalRecord? TryParse(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            JsonElement r = doc.RootElement;
            var metrics = new Dictionary<string, double>();
            foreach (JsonProperty m in r.GetProperty("metrics").EnumerateObject())
                metrics[m.Name] = m.Value.ValueKind == JsonValueKind.Null ? double.NaN : m.Value.GetDouble();
            return new EvalRecord(r.GetProperty("key").GetString()!, r.GetProperty("prompt_index").GetInt32(), r.GetProperty("prompt").GetString()!,
                r.GetProperty("seed").GetUInt64(), r.GetProperty("method").GetString()!, r.GetProperty("image").GetString()!,
                r.GetProperty("seconds").GetDouble(), metrics, Optional(r, "psnr"), Optional(r, "ssim"));
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException)
        {
            return null;
        }
    }

    private static double? Optional(JsonElement r, string name) =>
        !r.TryGetProperty(name, out JsonElement v) ? null
        : v.ValueKind == JsonValueKind.Number ? v.GetDouble()
        : v.ValueKind == JsonValueKind.String && v.GetString() == Infinity ? double.PositiveInfinity
        : null;

    /// <summary>How +∞ is written (JSON has no such number): the PSNR of an image identical to its dense one.</summary>
    public const string Infinity = "inf";

    // A metric that could not be computed (NaN) is null.
    private static void WriteNumber(Utf8JsonWriter w, string name, double? value)
    {
        if (value is double v && double.IsFinite(v)) w.WriteNumber(name, v);
        else if (value is double.PositiveInfinity) w.WriteString(name, Infinity);
        else w.WriteNull(name);
    }
}
