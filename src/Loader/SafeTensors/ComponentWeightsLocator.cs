using System.Text.RegularExpressions;

namespace AccelAes.Loader.SafeTensors;

/// <summary>
/// Finds a model component's weight files the way diffusers / transformers name them:
/// <c>&lt;base&gt;.safetensors</c>, <c>&lt;base&gt;.&lt;variant&gt;.safetensors</c>, and the sharded index
/// <c>&lt;base&gt;.safetensors.index.json</c>, whose variant form is <c>&lt;base&gt;.safetensors.index.&lt;variant&gt;.json</c>
/// (what <c>save_pretrained</c> writes) or <c>&lt;base&gt;.&lt;variant&gt;.safetensors.index.json</c>. When no safetensors
/// file exists, the PyTorch pickles that older repositories ship are tried in the same forms with <c>.bin</c>:
/// <c>diffusion_pytorch_model.bin</c>, and for transformers' <c>model</c> base <c>pytorch_model.bin</c> and
/// <c>pytorch_model.bin.index.json</c> (transformers and diffusers likewise prefer safetensors when both exist).
/// </summary>
internal static partial class ComponentWeightsLocator
{
    internal sealed record Location(string Path, bool IsIndex);

    private const string Extension = ".safetensors";
    private const string IndexSuffix = ".safetensors.index.json";

    /// <summary>File names tried, in order of preference. A single file wins over an index, as in transformers.</summary>
    internal static IReadOnlyList<Location> Candidates(string folder, string baseName, string? variant) =>
        [.. CandidatesFor(folder, baseName, variant, "safetensors"), .. CandidatesFor(folder, PyTorchBaseName(baseName), variant, "bin")];

    // transformers saves model.safetensors but pytorch_model.bin; diffusers uses one base name for both.
    private static string PyTorchBaseName(string baseName) => baseName == "model" ? "pytorch_model" : baseName;

    private static IReadOnlyList<Location> CandidatesFor(string folder, string baseName, string? variant, string format) =>
        variant is null
            ?
            [
                new(Path.Combine(folder, $"{baseName}.{format}"), false),
                new(Path.Combine(folder, $"{baseName}.{format}.index.json"), true),
            ]
            :
            [
                new(Path.Combine(folder, $"{baseName}.{variant}.{format}"), false),
                new(Path.Combine(folder, $"{baseName}.{format}.index.{variant}.json"), true),
                new(Path.Combine(folder, $"{baseName}.{variant}.{format}.index.json"), true),
            ];

    /// <summary>Variants (e.g. <c>bf16</c>, <c>fp16</c>) for which the folder has a weight file or index.</summary>
    internal static IReadOnlyList<string> Variants(string folder, string baseName)
    {
        if (!Directory.Exists(folder))
            return [];
        var variants = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (name, format) in new[] { (baseName, "safetensors"), (PyTorchBaseName(baseName), "bin") })
            foreach (var file in Directory.EnumerateFiles(folder, name + ".*"))
            {
                var rest = Path.GetFileName(file)[(name.Length + 1)..];
                var variant =
                    Strip(rest, "", "." + format)                    // <base>.<v>.safetensors
                    ?? Strip(rest, format + ".index.", ".json")      // <base>.safetensors.index.<v>.json
                    ?? Strip(rest, "", $".{format}.index.json");     // <base>.<v>.safetensors.index.json
                if (variant is not null && IsValidVariant(variant) && !ShardNumber().IsMatch(variant))
                    variants.Add(variant);
            }
        return variants.ToArray();
    }

    internal static bool IsValidVariant(string variant) =>
        variant.Length > 0 && variant.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');

    // Shards of a variant are named "<base>.<variant>-00001-of-00003.safetensors"; they are not variants themselves.
    [GeneratedRegex(@"-\d+-of-\d+$")]
    private static partial Regex ShardNumber();

    private static string? Strip(string text, string prefix, string suffix) =>
        text.Length > prefix.Length + suffix.Length && text.StartsWith(prefix, StringComparison.Ordinal)
            && text.EndsWith(suffix, StringComparison.Ordinal)
            ? text[prefix.Length..^suffix.Length]
            : null;
}
