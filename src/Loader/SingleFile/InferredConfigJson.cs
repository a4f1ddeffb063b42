using System.Globalization;
using System.Text.Json;
using AccelAes.Loader.Diffusers;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// An inferred config (diffusers field → value) as a <see cref="JsonConfig"/>, and the one wording of a value in
/// messages. Written by hand: the loader is AOT-compiled into the native library, where reflection serialisation is
/// unavailable. A null value leaves the field out (the config's default, as diffusers' <c>None</c>).
/// </summary>
internal static class InferredConfigJson
{
    public static JsonConfig ToConfig(string source, IReadOnlyDictionary<string, object?> fields)
        => JsonConfig.Parse($"{source} (config inferred from tensor shapes)", ToJson(fields));

    public static string ToJson(IReadOnlyDictionary<string, object?> fields)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            foreach (var (name, value) in fields)
            {
                switch (value)
                {
                    case null: break;
                    case string text: writer.WriteString(name, text); break;
                    case bool flag: writer.WriteBoolean(name, flag); break;
                    case double number: writer.WriteNumber(name, number); break;
                    case int[] array:
                        writer.WriteStartArray(name);
                        foreach (int v in array) writer.WriteNumberValue(v);
                        writer.WriteEndArray();
                        break;
                    case string[] texts:
                        writer.WriteStartArray(name);
                        foreach (string v in texts) writer.WriteStringValue(v);
                        writer.WriteEndArray();
                        break;
                    default: writer.WriteNumber(name, Convert.ToInt64(value, CultureInfo.InvariantCulture)); break;
                }
            }
            writer.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>"true", "null", "[0, 1]", "64": how a field's value is named in a mismatch message.</summary>
    public static string Format(object? value) => value switch
    {
        null => "null",
        bool b => b ? "true" : "false",
        int[] a => "[" + string.Join(", ", a) + "]",
        string[] a => "[" + string.Join(", ", a) + "]",
        _ => Convert.ToString(value, CultureInfo.InvariantCulture)!,
    };

    /// <summary>
    /// Checks <paramref name="fromGiven"/> (a given config's fields) against <paramref name="inferred"/> field by field:
    /// the first that differs is an error naming the field, the config file and the file.
    /// </summary>
    public static void RequireAgreement(IReadOnlyDictionary<string, object?> fromGiven, IReadOnlyDictionary<string, object?> inferred,
        string configPath, string source)
    {
        foreach (var (field, value) in fromGiven)
            if (Format(value) != Format(inferred[field]))
                throw new AccelAesException($"{configPath}: {field} = {Format(value)}, but the tensors of {source} say {Format(inferred[field])}.");
    }
}
