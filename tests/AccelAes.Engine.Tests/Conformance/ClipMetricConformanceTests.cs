using AccelAes.Engine.Evaluation;
using AccelAes.Engine.Evaluation.Aesthetic;
using AccelAes.Engine.Evaluation.Clip;
using AccelAes.Engine.Models.Clip;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Images;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Tests.Conformance;

/// <summary>
/// The "aesthetic" and "clip" metrics against the reference numbers: the LAION head's scores
/// (../shared/conformance/laion_aesthetic_tiny, README C), the whole chain from the test PNG, and CLIP score as the
/// cosine of transformers' image and text features (clip_vision_tiny).
/// </summary>
public class ClipMetricConformanceTests
{
    private static readonly IBackend Cpu = ConformanceHarness.Cpu;

    private static string Clip(params string[] parts) => GoldenFiles.At(["clip_vision_tiny", .. parts]);
    private static string Laion(string file) => GoldenFiles.At("laion_aesthetic_tiny", file);
    private static RgbImage TestImage() => RgbImageFile.Read(Clip("preprocess", "test_image_64x48.png"), "test image");

    [GoldenFact]
    public void Aesthetic_head_matches_the_reference_scores_and_normalisation()
    {
        var inputs = GoldenTensors.Load(Laion("inputs.safetensors"));
        var outputs = GoldenTensors.Load(Laion("outputs.safetensors"));
        float[] embeds = inputs["image_embeds"].Values;
        GoldenTensors.AssertConforms(outputs["image_embeds_normalized"].Values, EmbeddingMath.NormalizedRows(embeds, 16), "normalized");
        // The same normalisation on the backend (CLIPModel's image_embeds) agrees.
        GoldenTensors.AssertConforms(outputs["image_embeds_normalized"].Values,
            Cpu.Download(L2Normalize.LastAxis(ConformanceHarness.Upload(inputs["image_embeds"]))), "normalized on the backend");

        var metric = AestheticMetric.Load(Clip("vision_with_projection"), Laion("model.safetensors"), Cpu, Clip("preprocess", "processor_32"));
        GoldenTensors.AssertConforms(outputs["score"].Values, metric.ScoreEmbeddings(embeds), "score");
    }

    [Fact]
    public void A_zero_embedding_normalises_to_zero_as_numpys_normalized_does()
    {
        float[] rows = EmbeddingMath.NormalizedRows([0f, 0f, 3f, 4f], 2);
        Assert.Equal([0f, 0f, 0.6f, 0.8f], rows);
    }

    [GoldenTheory]
    [InlineData("vision_with_projection")]
    [InlineData("clip_model")]
    public void Aesthetic_metric_scores_the_test_png_as_the_reference_chain(string clipFolder)
    {
        using var metric = AestheticMetric.Load(Clip(clipFolder), Laion("model.safetensors"), Cpu, Clip("preprocess", "processor_32"));
        double score = metric.Score(TestImage(), "ignored");
        float expected = GoldenTensors.Load(Laion("outputs.safetensors"))["score"].Values[2];
        Assert.InRange(score, expected - 1e-4, expected + 1e-4);
        Assert.Equal("aesthetic", metric.Name);
        Assert.False(metric.UsesPrompt);
    }

    [GoldenFact]
    public void Clip_score_is_the_cosine_of_transformers_image_and_text_features()
    {
        var inputs = GoldenTensors.Load(Clip("inputs.safetensors"));
        var outputs = GoldenTensors.Load(Clip("outputs.safetensors"));
        float[] imageFeatures = GoldenTensors.Load(Clip("preprocess", "test_image_vision_outputs.safetensors"))["image_embeds"].Values;
        int length = inputs["input_ids"].Shape[1];
        var prompts = new Dictionary<string, int[]>
        {
            ["first"] = inputs["input_ids"].Values[..length].Select(v => (int)v).ToArray(),
            ["second"] = inputs["input_ids"].Values[length..].Select(v => (int)v).ToArray(),
        };
        var model = ClipCheckpoint.LoadModel(Clip("clip_model"), Cpu);
        var processor = new ClipImageProcessor(ClipImageProcessorConfig.Load(Clip("preprocess", "processor_32")));
        using var metric = new ClipScoreMetric(model, processor, p => prompts[p]);
        RgbImage image = TestImage();
        float[] textFeatures = outputs["clip_text_features"].Values;
        int dim = imageFeatures.Length;
        Assert.Equal(3.0f, model.LogitScale);
        double[] scores = new double[2];
        for (int row = 0; row < 2; row++)
        {
            double expected = Cosine(imageFeatures, textFeatures.AsSpan(row * dim, dim));
            scores[row] = metric.Score(image, row == 0 ? "first" : "second");
            Assert.InRange(scores[row], expected - 1e-5, expected + 1e-5);
        }
        Assert.NotEqual(scores[0], scores[1], 3);
        Assert.Equal(scores[0], metric.Score(image, "first"));
    }

    [GoldenFact]
    public void Clip_score_needs_a_tokenizer_in_the_folder()
    {
        var e = Assert.ThrowsAny<AccelAesException>(() => ClipScoreMetric.Load(Clip("clip_model"), Cpu));
        Assert.Contains("tokenizer", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void A_head_file_that_is_no_checkpoint_is_refused_naming_it()
    {
        using var dir = new TempDirectory();
        foreach (string name in new[] { "head.pth", "head.safetensors" })
        {
            string path = dir.File(name);
            File.WriteAllText(path, "not a checkpoint");
            var e = Assert.ThrowsAny<AccelAesException>(() => ScorerWeights.With<int>(path, _ => 0));
            Assert.Contains(name, e.Message);
        }
    }

    private static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return dot / Math.Sqrt(na * nb);
    }
}
