using AccelAes.Loader.Images;
using AccelAes.Engine.Evaluation;
using AccelAes.Engine.Evaluation.ImageReward;
using AccelAes.Engine.Models.ImageReward;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Tokenizers;
using AccelAes.Engine.Tests.Models.ImageReward;
using static AccelAes.Engine.Tests.Models.ImageReward.ImageRewardTestModels;

namespace AccelAes.Engine.Tests.Evaluation;

/// <summary>The imagereward metric end to end (tokenizer, transform, model, normalisation) on a tiny model against the naive loops.</summary>
public sealed class ImageRewardMetricTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static RgbImage RandomImage(int width, int height, int seed)
    {
        var pixels = new byte[width * height * 3];
        new Random(seed).NextBytes(pixels);
        return new RgbImage(width, height, pixels);
    }

    [Fact]
    public void Score_equals_the_naive_score_of_the_tokenized_prompt_and_normalised_pixels()
    {
        ImageRewardConfig config = TinyConfig();
        var source = new RandomWeightSource(61);
        BertWordPieceTokenizer tokenizer = Tokenizer(_dir);
        using ImageRewardMetric metric = ImageRewardMetric.Create(source, config, tokenizer, Cpu);
        RgbImage image = RandomImage(8, 8, 62); // already 8×8: resize and crop leave it as it is
        const string prompt = "A red cat, on the hill!";

        double score = metric.Score(image, prompt);

        TokenizedPrompt tokens = tokenizer.Encode(prompt, TokenizerCall.PaddedTo(10));
        Assert.Equal([2, 5, 8, 9, 15, 10, 13, 11, 16, 3], tokens.InputIds); // [CLS] a red cat , on the hill ! [SEP]
        var pixels = new float[3 * 64];
        float[] mean = [0.48145466f, 0.4578275f, 0.40821073f], std = [0.26862954f, 0.26130258f, 0.27577711f];
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 64; i++) pixels[c * 64 + i] = (image.Pixels[i * 3 + c] / 255f - mean[c]) / std[c];
        double expected = new NaiveImageReward(ValuesOf(source), config).Score(pixels, tokens.InputIds, tokens.AttentionMask);
        Assert.Equal(expected, score, 1e-4);
    }

    [Fact]
    public void Score_depends_on_the_prompt_and_on_the_image()
    {
        using ImageRewardMetric metric = ImageRewardMetric.Create(new RandomWeightSource(71), TinyConfig(), Tokenizer(_dir), Cpu);
        RgbImage image = RandomImage(20, 12, 72);
        double a = metric.Score(image, "a red cat");
        Assert.True(double.IsFinite(a));
        Assert.NotEqual(a, metric.Score(image, "a blue sky"));
        Assert.NotEqual(a, metric.Score(RandomImage(20, 12, 73), "a red cat"));
    }

    [Fact]
    public void The_image_is_resized_as_a_pil_image_before_it_becomes_a_tensor()
    {
        // ImageReward resizes the PIL image: scoring an image equals scoring Pillow's resize of it.
        using ImageRewardMetric metric = ImageRewardMetric.Create(new RandomWeightSource(81), TinyConfig(), Tokenizer(_dir), Cpu);
        RgbImage large = RandomImage(32, 16, 82);
        (int width, int height) = TorchvisionClipTransform.ResizedSize(32, 16, metric.Config.Vision.ImageSize);
        var resized = new RgbImage(width, height, PilBicubicResize.Resize(large.Pixels, 32, 16, 3, width, height));
        Assert.Equal(metric.Score(large, "a dog"), metric.Score(resized, "a dog"));
    }
}
