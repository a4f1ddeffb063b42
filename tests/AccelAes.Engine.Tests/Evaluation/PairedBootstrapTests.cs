using AccelAes.Engine.Evaluation.Runs;

namespace AccelAes.Engine.Tests.Evaluation;

public class PairedBootstrapTests
{
    [Fact]
    public void Equal_differences_have_a_zero_width_interval_at_their_value()
    {
        var d = PairedBootstrap.Compute([0.25, 0.25, 0.25, 0.25]);
        Assert.Equal((0.25, 0.25, 0.25, 4), (d.Mean, d.Low, d.High, d.Pairs));
    }

    [Fact]
    public void Two_values_give_an_interval_within_their_range_containing_the_mean_and_reproducible()
    {
        // Resampled means of {0, 1} are k/n; with n = 2 they are 0, 0.5 or 1 with probabilities ¼, ½, ¼: the 2.5th
        // percentile is 0 and the 97.5th is 1 for any seed with enough resamples.
        var d = PairedBootstrap.Compute([0.0, 1.0]);
        Assert.Equal((0.5, 0.0, 1.0), (d.Mean, d.Low, d.High));
        Assert.Equal(d, PairedBootstrap.Compute([0.0, 1.0]));
    }

    [Fact]
    public void The_interval_narrows_as_pairs_are_added_and_holds_the_mean()
    {
        var rng = new Random(3);
        double[] few = [.. Enumerable.Range(0, 8).Select(_ => rng.NextDouble())];
        double[] many = [.. Enumerable.Range(0, 800).Select(_ => rng.NextDouble())];
        PairedDifference a = PairedBootstrap.Compute(few), b = PairedBootstrap.Compute(many);
        Assert.InRange(a.Mean, a.Low, a.High);
        Assert.InRange(b.Mean, b.Low, b.High);
        Assert.True(b.High - b.Low < (a.High - a.Low) / 3, $"{b} vs {a}");
        // Uniform(0, 1): σ of the mean of 800 ≈ 0.0102, so the 95 % interval is ≈ ±0.02.
        Assert.InRange(b.High - b.Low, 0.03, 0.05);
    }

    [Fact]
    public void Percentiles_interpolate_between_ranks_as_numpy_does()
    {
        double[] sorted = [1, 2, 3, 4, 5];
        Assert.Equal(1.1, PairedBootstrap.Percentile(sorted, 2.5), 12);
        Assert.Equal(4.9, PairedBootstrap.Percentile(sorted, 97.5), 12);
    }
}
