using System.Text.Json;

namespace AccelAes.Loader.Tests.Tokenizers;

/// <summary>
/// The tokenizer goldens in the shared conformance folder (located by <see cref="GoldenFiles"/>). Tests that
/// need them are [GoldenFact]/[GoldenTheory]: skipped visibly without the folder, failing under CI.
/// </summary>
internal static class SharedData
{
    /// <summary>Theory row standing for "no data": the golden file could not be found.</summary>
    public const string Missing = "<shared data missing>";

    public static string? Root => GoldenFiles.Shared;

    /// <summary>conformance/text_encoders/tokenizers, or null (skip) when absent; throws under CI.</summary>
    public static string? TokenizersDir => Require(Path.Combine("conformance", "text_encoders", "tokenizers"));

    public static string? TextEncodersDir => Require(Path.Combine("conformance", "text_encoders"));

    private static string? Require(string relative)
    {
        string? root = Root;
        string? dir = root is null ? null : Path.Combine(root, relative);
        if (dir is not null && Directory.Exists(dir)) return dir;
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI")))
        {
            throw new InvalidOperationException(
                $"CI is set but the shared conformance folder '{relative}' was not found (ACCELAES_SHARED or <repo root>/../shared).");
        }

        return null;
    }

    /// <summary>The prompts of a golden file, as theory data; one <see cref="Missing"/> row when absent.</summary>
    public static IEnumerable<object[]> Prompts(string goldenFile)
    {
        string? dir = Root is null ? null : Path.Combine(Root, "conformance", "text_encoders", "tokenizers");
        string? path = dir is null ? null : Path.Combine(dir, goldenFile);
        if (path is null || !File.Exists(path))
        {
            yield return [Missing];
            yield break;
        }

        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
        foreach (JsonElement c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            yield return [c.GetProperty("prompt").GetString()!];
        }
    }

    /// <summary>The golden case with this prompt (null = skip), and the file's root for top-level fields.</summary>
    public static JsonElement? Case(string goldenFile, string prompt)
    {
        JsonElement? root = Golden(goldenFile);
        if (root is null) return null;
        Assert.NotEqual(Missing, prompt);
        foreach (JsonElement c in root.Value.GetProperty("cases").EnumerateArray())
        {
            if (c.GetProperty("prompt").GetString() == prompt) return c;
        }

        throw new InvalidOperationException($"no case with prompt '{prompt}' in {goldenFile}");
    }

    public static JsonElement? Golden(string goldenFile)
    {
        string? dir = TokenizersDir;
        if (dir is null) return null;
        return JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, goldenFile))).RootElement.Clone();
    }

    public static int[] Ints(this JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    public static string[] Strings(this JsonElement e) => e.EnumerateArray().Select(x => x.GetString()!).ToArray();

    /// <summary>The int64 tensors of a small safetensors file, flattened to int.</summary>
    public static Dictionary<string, int[]> ReadInt64Tensors(string path)
    {
        using var file = AccelAes.Loader.SafeTensors.SafeTensorsSet.OpenFile(path);
        return file.Tensors.Where(t => t.DType == AccelAes.Loader.SafeTensors.SafeTensorDType.I64)
            .ToDictionary(t => t.Name, t => file.ReadAsInt64(t.Name).Select(v => checked((int)v)).ToArray());
    }
}
