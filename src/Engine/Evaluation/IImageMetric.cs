using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Engine.Evaluation;

/// <summary>
/// One quality metric of the paper's tables (CLIP score, ImageReward, HPSv2, LAION aesthetic, edge density),
/// computed on one generated image. Scorer models are loaded once and score many images; `eval` and `score`
/// see only this interface, so a new metric is one class and one entry in the metric catalog.
/// </summary>
public interface IImageMetric : IDisposable
{
    /// <summary>The name on the command line, in the JSONL and in the summary: "clip", "imagereward", "hps",
    /// "aesthetic", "edge_density".</summary>
    string Name { get; }

    /// <summary>Whether the score depends on the prompt (CLIP, ImageReward, HPS) or only on the pixels.</summary>
    bool UsesPrompt { get; }

    /// <summary>The metric's value for <paramref name="image"/> generated from <paramref name="prompt"/>.</summary>
    double Score(RgbImage image, string prompt);
}
