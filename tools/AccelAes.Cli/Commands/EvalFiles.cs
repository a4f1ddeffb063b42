using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using AccelAes.Engine.Evaluation;
using AccelAes.Engine.Evaluation.Runs;
using AccelAes.Engine.Tiny;
using AccelAes.Loader.Files;

namespace AccelAes.Cli.Commands;

/// <summary>
/// The output folder of `eval`: its file names, and what makes resuming safe — <c>eval.json</c> records the settings
/// every image shares (model, steps, guidance, size, knobs, …), and a resumed run must have the same ones; prompts,
/// seeds and methods may be added (a finished image keeps its key), but a prompt list whose lines moved is refused.
/// </summary>
internal static class EvalFiles
{
    public const string Ledger = "eval.jsonl";
    public const string SettingsFile = "eval.json";

    /// <summary>The settings all images of a run share, as name → text.</summary>
    public static SortedDictionary<string, string> Settings(ParseResult parse, GenerationOptionsCli shared, string? modelPath, string[] sets, IReadOnlyList<MetricEntry> metrics)
    {
        string Text<T>(Option<T> option) => parse.GetValue(option) is { } v ? Convert.ToString(v, CultureInfo.InvariantCulture) ?? "" : "default";
        return new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["model"] = modelPath is null ? RunRecord.BuiltInPrefix + BuiltInModel.Name : Path.GetFullPath(modelPath),
            ["negative_prompt"] = Text(shared.NegativePrompt),
            ["steps"] = Text(shared.Steps),
            ["guidance"] = Text(shared.Guidance),
            ["true_cfg_scale"] = Text(shared.TrueCfg),
            ["width"] = Text(shared.Width),
            ["height"] = Text(shared.Height),
            ["cfg_mode"] = Text(shared.CfgMode),
            ["aesmask_clip"] = parse.GetValue(shared.AesMaskClip) is { } clip ? Path.GetFullPath(clip) : "none",
            ["variant"] = Text(shared.Variant),
            ["backend"] = Text(shared.Backend),
            ["set"] = string.Join(" ", sets),
        };
    }

    /// <summary>
    /// Creates <paramref name="folder"/> (never inside a model folder), or checks that the run already there has the same
    /// <paramref name="settings"/>; then writes them to <see cref="SettingsFile"/>.
    /// </summary>
    public static void PrepareFolder(string folder, SortedDictionary<string, string> settings)
    {
        FileEntryKind kind = InputFile.KindOf(folder);
        if (kind != FileEntryKind.Missing && kind != FileEntryKind.Directory)
            throw new AccelAesException($"--out '{folder}' {InputFile.Describe(kind)}; it must be a folder (created when missing).");
        if (kind == FileEntryKind.Directory && (InputFile.Exists(Path.Combine(folder, "model_index.json")) || InputFile.Exists(Path.Combine(folder, "config.json"))))
            throw new AccelAesException($"--out '{folder}' is a model folder; eval writes its images and reports into a folder of its own.");
        string settingsPath = Path.Combine(folder, SettingsFile);
        if (kind == FileEntryKind.Directory && InputFile.Exists(settingsPath))
        {
            using var doc = JsonDocument.Parse(InputFile.ReadAllText(settingsPath, 1 << 20, $"--out '{folder}': {SettingsFile}"));
            foreach (var (name, value) in settings)
            {
                string? recorded = doc.RootElement.TryGetProperty(name, out JsonElement e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
                if (recorded != value)
                    throw new AccelAesException(
                        $"--out '{folder}' holds a run with other settings ({name}: '{recorded ?? "absent"}' there, '{value}' now); resume it with the same settings, or give a new --out.");
            }
            return;
        }
        Directory.CreateDirectory(folder);
        JsonFiles.Write(settingsPath, w =>
        {
            w.WriteStartObject();
            foreach (var (name, value) in settings) w.WriteString(name, value);
            w.WriteEndObject();
        }, "--out");
    }

    /// <summary>Finished records must be of this prompt list, and carry every metric asked for.</summary>
    public static void CheckLedgerMatches(EvalLedger ledger, IReadOnlyList<string> prompts, IReadOnlyList<string> metrics)
    {
        foreach (EvalRecord record in ledger.Records.Values)
        {
            if (record.PromptIndex >= prompts.Count || prompts[record.PromptIndex] != record.Prompt)
                throw new AccelAesException(
                    $"{Ledger}: image {record.Key} was generated from prompt {record.PromptIndex + 1} '{record.Prompt}', which is not line {record.PromptIndex + 1} of --prompts now; "
                    + "resume with the same prompt list (adding prompts at its end is fine), or give a new --out.");
            if (metrics.FirstOrDefault(m => !record.Metrics.ContainsKey(m)) is { } missing)
                throw new AccelAesException(
                    $"{Ledger}: image {record.Key} was scored without metric {missing}; resume with the metrics it was run with, or give a new --out.");
        }
    }
}
