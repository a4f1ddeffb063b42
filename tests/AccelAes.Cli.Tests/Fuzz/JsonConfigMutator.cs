using System.Text.Json;
using System.Text.Json.Nodes;

namespace AccelAes.Cli.Tests.Fuzz;

/// <summary>
/// Rewrites one value of a JSON file (model_index.json, a config.json, a scheduler or tokenizer config, a vocab)
/// with a hostile one — huge, negative, NaN as a string, the wrong JSON type — or the whole file with something
/// that is not the expected document at all.
/// </summary>
internal static class JsonConfigMutator
{
    private static readonly string[] HostileValues =
    [
        "1e30", "-1e30", "1e308", "-1", "0", "2147483648", "-2147483649", "99999999999999999999999", "0.5", "3",
        "\"NaN\"", "\"Infinity\"", "\"\"", "\"abc\"", "\"1e8\"", "true", "false", "null", "[]", "{}", "[1e30]", "[-1, -1]",
        "[\"a\", 1]", "{\"a\": 1}", "100000000", "\"" + new string('x', 100_000) + "\"",
    ];

    private static readonly string[] HostileDocuments =
    [
        "", " ", "{", "[]", "null", "1e30", "\"text\"", "{\"a\": }", "{\"a\": 1, \"a\": 2}", "{} trailing",
        new string('[', 100_000) + new string(']', 100_000), "\uFEFF{}", "{\"_class_name\": 5}", "\0\0\0\0",
    ];

    /// <summary>Replaces one value (at any depth) of <paramref name="path"/>; returns a description, or null when the file is not a JSON document.</summary>
    public static string? ReplaceValue(string path, FuzzDraw draw)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException) { return null; }
        if (root is null) return null;
        var slots = new List<(JsonNode Parent, string? Key, int Index, string Where)>();
        Collect(root, "$", slots);
        if (slots.Count == 0) return null;
        var (parent, key, index, where) = draw.PickFrom(slots);
        string value = draw.Pick(HostileValues);
        JsonNode? replacement = JsonNode.Parse(value);
        if (parent is JsonObject o)
        {
            if (draw.Chance(0.15)) o.Remove(key!);
            else o[key!] = replacement;
        }
        else ((JsonArray)parent)[index] = replacement;
        File.WriteAllText(path, root.ToJsonString());
        return $"{where} := {Abbreviate(value)} in {path}";
    }

    public static string ReplaceDocument(string path, FuzzDraw draw)
    {
        string document = draw.Pick(HostileDocuments);
        File.WriteAllText(path, document);
        return $"{path} := {Abbreviate(document)}";
    }

    private static void Collect(JsonNode node, string where, List<(JsonNode, string?, int, string)> slots)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (k, child) in o.ToList())
                {
                    slots.Add((o, k, -1, $"{where}.{k}"));
                    if (child is not null && slots.Count < 2000) Collect(child, $"{where}.{k}", slots);
                }
                break;
            case JsonArray a:
                for (int i = 0; i < a.Count && slots.Count < 2000; i++)
                {
                    slots.Add((a, null, i, $"{where}[{i}]"));
                    if (a[i] is { } child) Collect(child, $"{where}[{i}]", slots);
                }
                break;
        }
    }

    private static string Abbreviate(string s) => s.Length <= 40 ? s : $"{s[..20]}…[{s.Length} chars]";
}
