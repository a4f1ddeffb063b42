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

        // The same cosine under another name (HPSv2 on its own CLIP weights).
        var processor = new ClipImageProcessor(Loader.Images.ClipImageProcessorConfig.Load(dir.Path));
        using var hps = new ClipScoreMetric(ClipCheckpoint.LoadModel(dir.Path, Cpu), processor,
            p => Loader.Tokenizers.TokenizerFactory.FromFolder(dir.Path).Encode(p, new Loader.Tokenizers.TokenizerCall { MaxLength = 77, Truncation = true }).InputIds, "hps");
        Assert.Equal("hps", hps.Name);
        Assert.Equal(aCat, hps.Score(a, "a cat on a mat"), 12);
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

/// <summary>The catalog builds "clip" and "aesthetic" from the files eval and score pass, the head as a PyTorch .pth too.</summary>
public class ClipMetricCatalogTests
{
    [Fact]
    public void Clip_and_aesthetic_come_from_the_catalog_with_a_pth_head()
    {
        using var dir = new TempDirectory();
        string clip = dir.File("clip");
        TinyScorers.WriteClip(clip, seed: 5);
        string safetensorsHead = dir.File("head.safetensors"), pthHead = dir.File("head.pth");
        TinyScorers.WriteAestheticHead(safetensorsHead, seed: 6);
        TorchSaveFiles.FromSafeTensors(safetensorsHead, pthHead);
        using var cpu = new CpuBackend();
        var metrics = MetricCatalog.Create(MetricCatalog.Select("clip,aesthetic"), new ScorerFiles(clip, pthHead, null, null, cpu));
        Assert.Equal(["clip", "aesthetic"], metrics.Select(m => m.Name));
        Assert.IsType<ClipScoreMetric>(metrics[0]);
        var image = new RgbImage(33, 40, Enumerable.Range(0, 33 * 40 * 3).Select(i => (byte)(i * 7)).ToArray());
        using var fromSafeTensors = AestheticMetric.Load(clip, safetensorsHead, cpu);
        Assert.Equal(fromSafeTensors.Score(image, ""), metrics[1].Score(image, ""));
        foreach (var m in metrics) m.Dispose();
    }
}
