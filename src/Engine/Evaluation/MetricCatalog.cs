using AccelAes.Engine.Evaluation.Aesthetic;
using AccelAes.Engine.Evaluation.Clip;
using AccelAes.Engine.Evaluation.EdgeDensity;
using AccelAes.Engine.Evaluation.Hps;
using AccelAes.Engine.Evaluation.ImageReward;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Evaluation;

/// <summary>
/// The scorer files a run was given (`--clip DIR`, `--aesthetic FILE`, `--hps FILE`, `--imagereward FILE`) and the
/// backend scorer models run on.
/// </summary>
public sealed record ScorerFiles(string? Clip, string? Aesthetic, string? Hps, string? ImageReward, IBackend? Backend)
{
    /// <summary>`--hps-tokenizer DIR`: a CLIP tokenizer folder for HPS's prompts; default: the `--clip` folder's.</summary>
    public string? HpsTokenizer { get; init; }

    /// <summary>`--imagereward-tokenizer DIR`: bert-base-uncased's vocab.txt; default: the checkpoint's folder when it holds one.</summary>
    public string? ImageRewardTokenizer { get; init; }
}

/// <summary>One metric of the catalog: its name, its column in the paper's tables, and how it is created.</summary>
/// <param name="Name">The name on the command line and in the JSONL.</param>
/// <param name="Column">The column heading of the paper's tables.</param>
/// <param name="Needs">The scorer files it loads, for help and messages.</param>
public sealed record MetricEntry(string Name, string Column, string Needs, Func<ScorerFiles, IImageMetric> Create);

/// <summary>
/// Every metric `eval` and `score` know, in the column order of the paper's tables (CLIP, ImageReward, HPS, Aesth,
/// Edge). A model metric checks its files first ("metric clip needs --clip DIR"), then loads its scorer; one whose
/// Adding a scorer is one entry here.
/// </summary>
public static class MetricCatalog
{
    public static IReadOnlyList<MetricEntry> All { get; } =
    [
        new("clip", "CLIP", "--clip DIR (openai/clip-vit-large-patch14)",
            f => ClipScoreMetric.Load(Need(f.Clip, "clip", "--clip DIR (openai/clip-vit-large-patch14, a CLIPModel folder)"), BackendOf(f))),
        new("imagereward", "ImageReward", "--imagereward FILE (ImageReward.pt of THUDM/ImageReward v1.0) and bert-base-uncased's vocab.txt beside it or --imagereward-tokenizer DIR",
            f =>
            {
                string checkpoint = Need(f.ImageReward, "imagereward", "--imagereward FILE (ImageReward.pt of THUDM/ImageReward v1.0)");
                return ImageRewardMetric.Load(checkpoint, ImageRewardTokenizerOf(f, checkpoint), BackendOf(f));
            }),
        new("hps", "HPS", "--hps FILE (HPS_v2.1_compressed.pt) and a CLIP tokenizer (--hps-tokenizer DIR or --clip DIR)",
            f =>
            {
                string checkpoint = Need(f.Hps, "hps", "--hps FILE (HPS_v2.1_compressed.pt, OpenCLIP ViT-H/14)");
                string tokenizer = Need(f.HpsTokenizer ?? f.Clip, "hps",
                    "--hps-tokenizer DIR or --clip DIR (a CLIP tokenizer, vocab.json + merges.txt: HPS reads prompts with CLIP's BPE)");
                return HpsMetric.Load(checkpoint, tokenizer, BackendOf(f));
            }),
        new("aesthetic", "Aesth", "--aesthetic FILE (sac+logos+ava1-l14-linearMSE.pth) and --clip DIR",
            f =>
            {
                string head = Need(f.Aesthetic, "aesthetic", "--aesthetic FILE (the LAION aesthetic predictor v2 .pth, sac+logos+ava1-l14-linearMSE.pth)");
                string clip = Need(f.Clip, "aesthetic", "--clip DIR (openai/clip-vit-large-patch14: the aesthetic head scores its image embeddings)");
                return AestheticMetric.Load(clip, head, BackendOf(f));
            }),
        new(EdgeDensityMetric.MetricName, "Edge", "nothing", _ => new EdgeDensityMetric()),
    ];

    /// <summary>The names, comma-separated, for help and messages.</summary>
    public static string Names => string.Join(", ", All.Select(e => e.Name));

    /// <summary>The entries named in a comma-separated list (<paramref name="what"/>: the option), in catalog order, each once.</summary>
    /// <exception cref="AccelAesException">An unknown or empty name; the message lists the known ones.</exception>
    public static IReadOnlyList<MetricEntry> Select(string list, string what = "--metrics")
    {
        var named = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (string part in list.Split(','))
        {
            string name = part.Trim();
            if (name.Length == 0) continue;
            if (!All.Any(e => e.Name.Equals(name, StringComparison.OrdinalIgnoreCase)))
                throw new AccelAesException($"{what}: unknown metric '{name}'; the metrics are {Names}.");
            named.Add(name);
        }
        if (named.Count == 0) throw new AccelAesException($"{what} names no metric; the metrics are {Names}.");
        return [.. All.Where(e => named.Contains(e.Name))];
    }

    /// <summary>
    /// Creates the metrics of <paramref name="entries"/>, all or none: every entry's files are checked before any
    /// scorer loads, and what was created is disposed when a later one fails.
    /// </summary>
    public static IReadOnlyList<IImageMetric> Create(IReadOnlyList<MetricEntry> entries, ScorerFiles files)
    {
        var created = new List<IImageMetric>();
        try
        {
            foreach (MetricEntry entry in entries) created.Add(entry.Create(files));
            return created;
        }
        catch
        {
            foreach (IImageMetric metric in created) metric.Dispose();
            throw;
        }
    }

    private static IBackend BackendOf(ScorerFiles files) =>
        files.Backend ?? throw new AccelAesException("Scorer models need a backend to run on (--backend).");

    private static string Need(string? path, string metric, string option) =>
        path ?? throw new AccelAesException($"metric {metric} needs {option}.");

    /// <summary>ImageReward's BERT vocabulary: the given folder, else the checkpoint's when it holds vocab.txt.</summary>
    private static string ImageRewardTokenizerOf(ScorerFiles f, string checkpoint)
    {
        if (f.ImageRewardTokenizer is not null) return f.ImageRewardTokenizer;
        string folder = Path.GetDirectoryName(Path.GetFullPath(checkpoint)) ?? ".";
        return File.Exists(Path.Combine(folder, "vocab.txt")) ? folder
            : throw new AccelAesException($"metric imagereward needs bert-base-uncased's vocab.txt: put it beside {checkpoint} or give --imagereward-tokenizer DIR.");
    }
}
