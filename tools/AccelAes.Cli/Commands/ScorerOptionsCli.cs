using System.CommandLine;
using AccelAes.Engine.Evaluation;
using AccelAes.Engine.Tensors;

namespace AccelAes.Cli.Commands;

/// <summary>The metric options `eval` and `score` share: which metrics, and the scorer files they load.</summary>
internal sealed class ScorerOptionsCli
{
    public Option<string> Metrics { get; } = new("--metrics")
    {
        Description = "Metrics, comma-separated, from: " + string.Join("; ", MetricCatalog.All.Select(e => $"{e.Name} (needs {e.Needs})")) + ".",
        DefaultValueFactory = _ => Engine.Evaluation.EdgeDensity.EdgeDensityMetric.MetricName,
    };

    public Option<string?> Clip { get; } = new("--clip") { Description = "CLIP ViT-L/14 folder (openai/clip-vit-large-patch14, CLIPModel layout): the clip and aesthetic metrics." };

    public Option<string?> Aesthetic { get; } = new("--aesthetic") { Description = "LAION aesthetic predictor v2 weights (.pth): the aesthetic metric." };

    public Option<string?> Hps { get; } = new("--hps") { Description = "HPSv2.1 weights (HPS_v2.1_compressed.pt): the hps metric." };

    public Option<string?> ImageReward { get; } = new("--imagereward") { Description = "ImageReward v1.0 weights (ImageReward.pt): the imagereward metric." };

    public Option<string?> HpsTokenizer { get; } = new("--hps-tokenizer") { Description = "CLIP tokenizer folder (vocab.json, merges.txt) for the hps metric's prompts (default: the --clip folder's)." };

    public Option<string?> ImageRewardTokenizer { get; } = new("--imagereward-tokenizer") { Description = "bert-base-uncased tokenizer folder (vocab.txt) for the imagereward metric (default: the checkpoint's folder)." };

    public IEnumerable<Option> All => [Metrics, Clip, Aesthetic, Hps, HpsTokenizer, ImageReward, ImageRewardTokenizer];

    public IReadOnlyList<MetricEntry> Selected(ParseResult parse) => MetricCatalog.Select(parse.GetValue(Metrics)!);

    public ScorerFiles Files(ParseResult parse, IBackend? backend) =>
        new(parse.GetValue(Clip), parse.GetValue(Aesthetic), parse.GetValue(Hps), parse.GetValue(ImageReward), backend)
        {
            HpsTokenizer = parse.GetValue(HpsTokenizer),
            ImageRewardTokenizer = parse.GetValue(ImageRewardTokenizer),
        };

    /// <summary>The scorer files given, as inputs of the run (so no output lands on one).</summary>
    public IEnumerable<(string? Path, string What)> Inputs(ParseResult parse) =>
        [(parse.GetValue(Clip), "--clip"), (parse.GetValue(Aesthetic), "--aesthetic"), (parse.GetValue(Hps), "--hps"), (parse.GetValue(HpsTokenizer), "--hps-tokenizer"),
         (parse.GetValue(ImageReward), "--imagereward"), (parse.GetValue(ImageRewardTokenizer), "--imagereward-tokenizer")];
}
