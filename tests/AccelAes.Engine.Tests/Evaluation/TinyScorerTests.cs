using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Evaluation;
using AccelAes.Engine.Evaluation.Aesthetic;
using AccelAes.Engine.Evaluation.Clip;
using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Engine.Tests.Evaluation;

/// <summary>The tiny scorers load through the metrics' own Load, and every input the metric reads changes its score.</summary>
public class TinyScorerTests
{
    private static readonly CpuBackend Cpu = new();

    private static RgbImage Image(int width, int height, int seed)
    {
        var rng = new Random(seed);
        var pixels = new byte[width * height * 3];
        rng.NextBytes(pixels);
        return new RgbImage(width, height, pixels);
    }

    [Fact]
    public void Clip_score_reads_the_tiny_folder_and_depends_on_image_and_prompt()
    {
        using var dir = new TempDirectory();
        TinyScorers.WriteClip(dir.Path, seed: 3);
        using var metric = ClipScoreMetric.Load(dir.Path, Cpu);
        Assert.True(metric.UsesPrompt);
        RgbImage a = Image(40, 30, 1), b = Image(40, 30, 2);
        double aCat = metric.Score(a, "a cat on a mat"), aCar = metric.Score(a, "a red car"), bCat = metric.Score(b, "a cat on a mat");
        Assert.InRange(aCat, -1, 1);
        Assert.NotEqual(aCat, aCar, 6);
        Assert.NotEqual(aCat, bCat, 6);
        // Truncation: a prompt far past 77 tokens still scores.
        Assert.InRange(metric.Score(a, string.Join(' ', Enumerable.Repeat("word", 200))), -1, 1);
    }

    [Fact]
    public void Aesthetic_reads_the_tiny_folder_and_head_and_depends_on_the_image_only()
    {
        using var dir = new TempDirectory();
        TinyScorers.WriteClip(dir.Path, seed: 3);
        string head = dir.File("head.safetensors");
        TinyScorers.WriteAestheticHead(head, seed: 4);
        using var metric = AestheticMetric.Load(dir.Path, head, Cpu);
        RgbImage a = Image(40, 30, 1), b = Image(40, 30, 2);
        double score = metric.Score(a, "one prompt");
        Assert.True(double.IsFinite(score));
        Assert.Equal(score, metric.Score(a, "another prompt"));
        Assert.NotEqual(score, metric.Score(b, "one prompt"), 6);
    }

    [Fact]
    public void A_head_of_the_wrong_width_is_refused_naming_both_widths()
    {
        using var dir = new TempDirectory();
        TinyScorers.WriteClip(dir.Path);
        string head = dir.File("head.safetensors");
        TinyScorers.WriteAestheticHead(head, inputSize: 768);
        var e = Assert.ThrowsAny<AccelAesException>(() => AestheticMetric.Load(dir.Path, head, Cpu));
        Assert.Contains("768", e.Message);
    }
}
