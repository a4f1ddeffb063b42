using AccelAes.Engine.Models.ImageReward;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using static AccelAes.Engine.Tests.Models.ImageReward.ImageRewardTestModels;

namespace AccelAes.Engine.Tests.Models.ImageReward;

/// <summary>The whole tiny ImageReward forward against <see cref="NaiveImageReward"/>, an independent loop implementation.</summary>
public class ImageRewardForwardTests
{
    private static float[] Pixels(ImageRewardConfig config, int batch, int seed)
        => TestData.Random(batch * 3 * config.Vision.ImageSize * config.Vision.ImageSize, seed, -2f, 2f);

    private static double[] NaiveScores(NaiveImageReward naive, ImageRewardConfig config, float[] pixels, TokenGrid ids, TokenGrid mask)
    {
        int plane = 3 * config.Vision.ImageSize * config.Vision.ImageSize;
        return Enumerable.Range(0, ids.Batch)
            .Select(b => naive.Score(pixels.AsSpan(b * plane, plane), ids.Row(b).ToArray(), mask.Row(b).ToArray()))
            .ToArray();
    }

    private static float[] EngineScores(ImageRewardModel model, ImageRewardConfig config, float[] pixels, TokenGrid ids, TokenGrid mask)
    {
        int s = config.Vision.ImageSize;
        return model.Score(Cpu.Upload(pixels, new Shape(ids.Batch, 3, s, s)), ids, mask);
    }

    /// <summary>
    /// Two rows with different prompts, padding and images; the LayerNorm eps values are the published ones, then
    /// large ones (0.3 / 0.2), which move the result far beyond the tolerance, so a model that ignored either eps fails.
    /// </summary>
    [Theory]
    [InlineData(1e-6, 1e-12)]
    [InlineData(0.3, 0.2)]
    public void Batched_score_matches_the_naive_loops(double visionEps, double textEps)
    {
        ImageRewardConfig config = TinyConfig(visionEps, textEps);
        var (model, naive) = ModelAndNaive(config, seed: 11);
        var ids = new TokenGrid(2, 7, [2, 5, 6, 7, 8, 9, 3, 2, 12, 3, 0, 0, 0, 0]);
        var mask = new TokenGrid(2, 7, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0], "attention_mask");
        float[] pixels = Pixels(config, 2, seed: 12);

        float[] engine = EngineScores(model, config, pixels, ids, mask);
        double[] expected = NaiveScores(naive, config, pixels, ids, mask);
        TestData.AssertCloseScaled(expected.Select(v => (float)v).ToArray(), engine, 1e-4, "rewards");
        Assert.True(Math.Abs(engine[0] - engine[1]) > 1e-3, "the two rows must differ, or the comparison proves little");
    }

    [Fact]
    public void Padded_positions_do_not_reach_the_score_but_real_tokens_do()
    {
        ImageRewardConfig config = TinyConfig();
        var (model, _) = ModelAndNaive(config, seed: 21);
        float[] pixels = Pixels(config, 1, seed: 22);
        var mask = new TokenGrid(1, 8, [1, 1, 1, 1, 0, 0, 0, 0], "attention_mask");
        float baseline = EngineScores(model, config, pixels, new TokenGrid(1, 8, [2, 5, 9, 3, 0, 0, 0, 0]), mask)[0];
        float otherPadding = EngineScores(model, config, pixels, new TokenGrid(1, 8, [2, 5, 9, 3, 17, 18, 19, 20]), mask)[0];
        float otherWord = EngineScores(model, config, pixels, new TokenGrid(1, 8, [2, 5, 12, 3, 0, 0, 0, 0]), mask)[0];
        Assert.Equal(baseline, otherPadding);
        Assert.True(Math.Abs(baseline - otherWord) > 1e-4);
    }

    /// <summary>
    /// A row of nothing but padding: med.py adds −10000 to every score, which cancels in the softmax, so the row attends
    /// as if unmasked. The naive loops add −10000 literally (in double, where it cancels exactly).
    /// </summary>
    [Fact]
    public void An_all_padding_row_behaves_as_med_py_s_additive_mask()
    {
        ImageRewardConfig config = TinyConfig();
        var (model, naive) = ModelAndNaive(config, seed: 31);
        var ids = new TokenGrid(2, 5, [2, 5, 9, 3, 0, 2, 8, 10, 11, 3]);
        var mask = new TokenGrid(2, 5, [1, 1, 1, 1, 0, 0, 0, 0, 0, 0], "attention_mask");
        float[] pixels = Pixels(config, 2, seed: 32);
        float[] engine = EngineScores(model, config, pixels, ids, mask);
        double[] expected = NaiveScores(naive, config, pixels, ids, mask);
        TestData.AssertCloseScaled(expected.Select(v => (float)v).ToArray(), engine, 1e-4, "rewards");
    }

    /// <summary>The head's output is normalised as (r − mean) / std: a config with mean 0, std 1 gives the raw reward.</summary>
    [Fact]
    public void Reward_normalisation_uses_the_configured_mean_and_std()
    {
        var ids = new TokenGrid(1, 4, [2, 5, 6, 3]);
        var mask = new TokenGrid(1, 4, [1, 1, 1, 1], "attention_mask");
        float[] pixels = Pixels(TinyConfig(), 1, seed: 42);
        float raw = EngineScores(ModelAndNaive(TinyConfig(mean: 0, std: 1), 41).Model, TinyConfig(), pixels, ids, mask)[0];
        float shifted = EngineScores(ModelAndNaive(TinyConfig(mean: 2, std: 4), 41).Model, TinyConfig(), pixels, ids, mask)[0];
        float published = EngineScores(ModelAndNaive(TinyConfig(), 41).Model, TinyConfig(), pixels, ids, mask)[0];
        Assert.Equal((raw - 2f) / 4f, shifted, 1e-6f);
        Assert.Equal((raw - 0.16717362830052426f) / 1.0333394966054072f, published, 1e-6f);
    }

    [Fact]
    public void Pixel_values_of_the_wrong_size_are_refused_naming_the_expected_shape()
    {
        ImageRewardConfig config = TinyConfig();
        var (model, _) = ModelAndNaive(config, seed: 51);
        var ids = new TokenGrid(1, 3, [2, 5, 3]);
        var e = Assert.Throws<AccelAesException>(() => model.Score(Cpu.Upload(new float[3 * 16 * 16], new Shape(1, 3, 16, 16)), ids, new TokenGrid(1, 3, [1, 1, 1])));
        Assert.Contains("[B, 3, 8, 8]", e.Message);
    }

    /// <summary>The reference's own erf (its GELU) against tabulated values, so the naive loops are a trustworthy yardstick.</summary>
    [Theory]
    [InlineData(0.5, 0.5204998778130465)]
    [InlineData(1.0, 0.8427007929497149)]
    [InlineData(-2.0, -0.9953222650189527)]
    [InlineData(3.5, 0.9999992569016276)]
    public void Naive_erf_matches_tabulated_values(double x, double expected)
        => Assert.Equal(expected, NaiveImageReward.Erf(x), 1e-12);
}
