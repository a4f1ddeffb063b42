using System.Text.Json;
using AccelAes.Loader.Files;
using AccelAes.Loader.Validation;

namespace AccelAes.Loader.Diffusers;

/// <summary>
/// A diffusers / transformers <c>config.json</c> read as JSON, with typed getters whose errors name the
/// file, the field and the offending value. Unknown keys are ignored, as diffusers does.
/// </summary>
public sealed class JsonConfig
{
    private readonly JsonElement _root;

    private JsonConfig(string path, JsonElement root)
    {
        FilePath = path;
        _root = root;
    }

    public string FilePath { get; }

    /// <summary>
    /// Reads and parses a config file: only a regular file (a FIFO, /dev/zero or a looping link is refused before it
    /// is opened) of at most <see cref="InputLimits.MaxConfigFileBytes"/>.
    /// </summary>
    public static JsonConfig Load(string path)
    {
        if (!InputFile.Exists(path))
            throw new ConfigException(path, null, "file not found.");
        string text = InputFile.ReadAllText(path, InputLimits.MaxConfigFileBytes, "Config file");
        return Parse(path, text);
    }

    public static JsonConfig Parse(string path, string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new ConfigException(path, null, $"expected a JSON object, found {doc.RootElement.ValueKind}.");
            return new JsonConfig(path, doc.RootElement.Clone());
        }
        catch (JsonException e)
        {
            throw new ConfigException(path, null, $"invalid JSON ({e.Message}).");
        }
    }

    /// <summary>diffusers' <c>_class_name</c>, or the first of transformers' <c>architectures</c>.</summary>
    public string? ClassName
    {
        get
        {
            if (TryGet("_class_name", out var c) && c.ValueKind == JsonValueKind.String) return c.GetString();
            if (TryGet("architectures", out var a) && a.ValueKind == JsonValueKind.Array && a.GetArrayLength() > 0
                && a[0].ValueKind == JsonValueKind.String) return a[0].GetString();
            return null;
        }
    }

    public bool Has(string field) => TryGet(field, out var v) && v.ValueKind != JsonValueKind.Null;

    public IEnumerable<string> Keys => _root.EnumerateObject().Select(p => p.Name);

    /// <summary>Every top-level field with its raw JSON value (model_index.json's component entries).</summary>
    public IEnumerable<JsonProperty> Fields => _root.EnumerateObject();

    public int GetInt(string field, int? defaultValue = null)
    {
        if (!TryGet(field, out var v) || v.ValueKind == JsonValueKind.Null)
            return defaultValue ?? throw Missing(field);
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i)) return WithinBound(field, i);
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue) return WithinBound(field, (int)d);
        throw Invalid(field, v, "an integer");
    }

    /// <summary>
    /// Every integer a model or scheduler config gives is a size, a count, an id or an index that the engine may
    /// allocate or loop over before the weights are checked against it (layers, widths, sample size, position
    /// table side); one beyond <see cref="InputLimits.MaxConfigDimension"/> is refused here, naming the field.
    /// </summary>
    private int WithinBound(string field, int value)
    {
        if (value > InputLimits.MaxConfigDimension || value < -InputLimits.MaxConfigDimension)
            throw Unsupported(field, value, $"a size, count or id in a config is at most {InputLimits.MaxConfigDimension} in magnitude");
        return value;
    }

    public int? GetOptionalInt(string field) => Has(field) ? GetInt(field) : null;

    public double GetDouble(string field, double? defaultValue = null)
    {
        if (!TryGet(field, out var v) || v.ValueKind == JsonValueKind.Null)
            return defaultValue ?? throw Missing(field);
        if (v.ValueKind == JsonValueKind.Number) return v.GetDouble();
        throw Invalid(field, v, "a number");
    }

    public double? GetOptionalDouble(string field) => Has(field) ? GetDouble(field) : null;

    public bool GetBool(string field, bool? defaultValue = null)
    {
        if (!TryGet(field, out var v) || v.ValueKind == JsonValueKind.Null)
            return defaultValue ?? throw Missing(field);
        if (v.ValueKind is JsonValueKind.True or JsonValueKind.False) return v.GetBoolean();
        throw Invalid(field, v, "true or false");
    }

    public string? GetString(string field, string? defaultValue = null)
    {
        if (!TryGet(field, out var v) || v.ValueKind == JsonValueKind.Null) return defaultValue;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        throw Invalid(field, v, "a string");
    }

    /// <summary>A string field restricted to <paramref name="allowed"/> (null allowed when listed).</summary>
    public string? GetChoice(string field, string? defaultValue, params string?[] allowed)
    {
        string? value = GetString(field, defaultValue);
        if (!allowed.Contains(value))
            throw Unsupported(field, value is null ? "null" : $"\"{value}\"",
                "supported: " + string.Join(", ", allowed.Select(a => a is null ? "null" : $"\"{a}\"")));
        return value;
    }

    public int[] GetIntArray(string field, int[]? defaultValue = null)
    {
        if (!TryGet(field, out var v) || v.ValueKind == JsonValueKind.Null)
            return defaultValue ?? throw Missing(field);
        if (v.ValueKind != JsonValueKind.Array) throw Invalid(field, v, "an array of integers");
        var result = new int[v.GetArrayLength()];
        int i = 0;
        foreach (var e in v.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out result[i]))
                throw Invalid(field, v, "an array of integers");
            WithinBound(field, result[i++]);
        }
        return result;
    }

    /// <summary>An array of numbers (e.g. AutoencoderKL's <c>latents_mean</c>); null when absent or JSON null.</summary>
    public double[]? GetOptionalDoubleArray(string field)
    {
        if (!TryGet(field, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Array || v.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.Number))
            throw Invalid(field, v, "an array of numbers");
        return v.EnumerateArray().Select(e => e.GetDouble()).ToArray();
    }

    /// <summary>A nested object (e.g. CLIPModel's <c>text_config</c>) as a config of its own, reported under this file.</summary>
    public JsonConfig GetObject(string field)
    {
        if (!TryGet(field, out var v) || v.ValueKind == JsonValueKind.Null) throw Missing(field);
        if (v.ValueKind != JsonValueKind.Object) throw Invalid(field, v, "an object");
        return new JsonConfig($"{FilePath} ({field})", v.Clone());
    }

    public string[] GetStringArray(string field, string[]? defaultValue = null)
    {
        if (!TryGet(field, out var v) || v.ValueKind == JsonValueKind.Null)
            return defaultValue ?? throw Missing(field);
        if (v.ValueKind != JsonValueKind.Array || v.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
            throw Invalid(field, v, "an array of strings");
        return v.EnumerateArray().Select(e => e.GetString()!).ToArray();
    }

    /// <summary>Refuses a size-like value (a width, a count of heads or layers) that is zero or negative.</summary>
    public void RequirePositive(string field, int value)
    {
        if (value <= 0) throw Unsupported(field, value, "it must be positive");
    }

    /// <summary>An error for a well-formed value the engine cannot honour.</summary>
    public ConfigException Unsupported(string field, object? value, string why)
        => new(FilePath, field, $"has value {FormatValue(value)}, which is not supported ({why}).");

    private bool TryGet(string field, out JsonElement value) => _root.TryGetProperty(field, out value);

    private ConfigException Missing(string field) => new(FilePath, field, "is missing.");

    private ConfigException Invalid(string field, JsonElement v, string expected)
        => new(FilePath, field, $"has value {v.GetRawText()}, expected {expected}.");

    private static string FormatValue(object? value) => value switch
    {
        null => "null",
        string s when s.StartsWith('"') || s == "null" => s,
        string s => $"\"{s}\"",
        System.Collections.IEnumerable e => "[" + string.Join(", ", e.Cast<object>()) + "]",
        _ => value.ToString()!,
    };
}
