using System.Text.Json;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>
/// Access to conformance/aesmask: the case files of a folder (whatever the folder holds, so withheld cases run
/// too), their metadata in cases.json, and raw tensor reads where fp32 is not enough (F64 thresholds, U8 masks).
/// </summary>
internal static class AesMaskGoldens
{
    private static readonly Lazy<JsonDocument?> Cases = new(() =>
    {
        string path = GoldenFiles.At("aesmask", "cases.json");
        return File.Exists(path) ? JsonDocument.Parse(File.ReadAllText(path)) : null;
    });

    /// <summary>Case names (file names without extension) in a folder, for [MemberData]; a placeholder when the folder is missing (the golden attributes skip or fail then).</summary>
    public static TheoryData<string> CaseNames(string folder, string? exclude = null)
    {
        var data = new TheoryData<string>();
        string? dir = GoldenFiles.Shared is null ? null : GoldenFiles.At("aesmask", folder);
        if (dir is null || !Directory.Exists(dir))
        {
            data.Add("(conformance folder missing)");
            return data;
        }

        foreach (string f in Directory.GetFiles(dir, "*.safetensors").OrderBy(f => f, StringComparer.Ordinal))
        {
            string name = Path.GetFileNameWithoutExtension(f);
            if (name != exclude) data.Add(name);
        }

        if (data.Count == 0) data.Add("(no case files)");
        return data;
    }

    public static string PathOf(string folder, string name)
    {
        string path = GoldenFiles.At("aesmask", folder, name + ".safetensors");
        Assert.True(File.Exists(path), $"golden case file {path} does not exist");
        return path;
    }

    /// <summary>The cases.json entry of a case, or null when cases.json does not describe it.</summary>
    public static JsonElement? Meta(string section, string name)
    {
        JsonDocument? doc = Cases.Value;
        if (doc is null || !doc.RootElement.TryGetProperty(section, out JsonElement list)) return null;
        if (list.ValueKind == JsonValueKind.Object && list.TryGetProperty("cases", out JsonElement inner)) list = inner;
        foreach (JsonElement c in list.EnumerateArray())
            if (c.GetProperty("name").GetString() == name) return c;
        return null;
    }

    /// <summary>
    /// The skip ratio of a case: cases.json's <c>skip_ratio</c>; without an entry, the <c>skipNN</c> part of the
    /// case name (0.NN, the goldens' naming); else the published setting 0.5.
    /// </summary>
    public static double SkipRatio(string section, string name)
    {
        if (Meta(section, name) is JsonElement m && m.TryGetProperty("skip_ratio", out JsonElement s) && s.ValueKind == JsonValueKind.Number)
            return s.GetDouble();
        var match = System.Text.RegularExpressions.Regex.Match(name, @"_skip(\d)(\d+)");
        if (match.Success) return double.Parse($"{match.Groups[1].Value}.{match.Groups[2].Value}", System.Globalization.CultureInfo.InvariantCulture);
        return 0.5;
    }

    public static double Number(JsonElement? meta, string key, double fallback) =>
        meta is JsonElement m && m.TryGetProperty(key, out JsonElement v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : fallback;

    /// <summary>A float64 tensor's exact values.</summary>
    public static double[] ReadF64(string path, string key)
    {
        using var set = SafeTensorsSet.OpenFile(path);
        var info = set.Get(key);
        Assert.Equal(SafeTensorDType.F64, info.DType);
        ReadOnlySpan<byte> bytes = set.GetBytes(info);
        var values = new double[bytes.Length / 8];
        for (int i = 0; i < values.Length; i++) values[i] = BitConverter.ToDouble(bytes.Slice(i * 8, 8));
        return values;
    }

    public static bool[] Mask(GoldenTensor t) => Array.ConvertAll(t.Values, v => v switch
    {
        0f => false,
        1f => true,
        _ => throw new InvalidDataException($"mask value {v} is neither 0 nor 1"),
    });

    /// <summary>
    /// The reference's token mask: the soft mask cast to bf16 (round to nearest even) before <c>&gt; 0.5</c>. Used to check
    /// that the *_bf16 keys differ from the engine's fp32 token mask only by that documented cast.
    /// </summary>
    public static bool[] Bf16TokenMask(float[] soft) =>
        Array.ConvertAll(soft, v => DTypeConversion.BFloat16ToFloat32(DTypeConversion.Float32ToBFloat16(v)) > 0.5f);

    public static void AssertBitwise(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        int diffs = 0, first = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                diffs++;
                if (first < 0) first = i;
            }
        }

        Assert.True(diffs == 0, $"{what}: {diffs} of {expected.Length} values differ bitwise; first at {first}: expected {(first < 0 ? 0 : expected[first]):R}, got {(first < 0 ? 0 : actual[first]):R}");
    }

    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = 0;
        int at = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs((double)expected[i] - actual[i]);
            if (double.IsNaN(d)) d = double.PositiveInfinity;
            if (d > max) { max = d; at = i; }
        }

        Assert.True(max <= tolerance, $"{what}: max |ours − ref| = {max:E3} at {at} > {tolerance:E1}");
    }

    public static void AssertMaskEqual(bool[] expected, bool[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var diff = Enumerable.Range(0, expected.Length).Where(i => expected[i] != actual[i]).ToArray();
        Assert.True(diff.Length == 0,
            $"{what}: {diff.Length} of {expected.Length} tokens differ (ref {expected.Count(b => b)} set, ours {actual.Count(b => b)}); first at {string.Join(", ", diff.Take(5))}");
    }
}
