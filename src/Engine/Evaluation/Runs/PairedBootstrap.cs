namespace AccelAes.Engine.Evaluation.Runs;

/// <summary>A mean difference and its percentile bootstrap interval.</summary>
public sealed record PairedDifference(double Mean, double Low, double High, int Pairs);

/// <summary>
/// The paired difference of a method against dense (same prompt, same seed: d_i = method_i − dense_i) with a
/// percentile bootstrap 95 % interval: <see cref="Resamples"/> resamples of the n pairs drawn with replacement, the
/// 2.5th and 97.5th percentiles of their means (linear interpolation between order statistics, numpy's default).
/// The resampling generator has a fixed seed (<see cref="Seed"/>), so a summary is reproducible to the last digit.
/// </summary>
public static class PairedBootstrap
{
    public const int Resamples = 10_000;
    public const int Seed = 0;

    public static PairedDifference Compute(IReadOnlyList<double> differences)
    {
        int n = differences.Count;
        if (n == 0) return new PairedDifference(double.NaN, double.NaN, double.NaN, 0);
        double mean = differences.Average();
        var random = new Random(Seed);
        var means = new double[Resamples];
        for (int r = 0; r < Resamples; r++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++) sum += differences[random.Next(n)];
            means[r] = sum / n;
        }
        Array.Sort(means);
        return new PairedDifference(mean, Percentile(means, 2.5), Percentile(means, 97.5), n);
    }

    /// <summary>The <paramref name="percent"/> percentile of sorted values, interpolating linearly between ranks.</summary>
    public static double Percentile(double[] sorted, double percent)
    {
        double rank = percent / 100 * (sorted.Length - 1);
        int below = (int)Math.Floor(rank);
        int above = Math.Min(below + 1, sorted.Length - 1);
        return sorted[below] + (rank - below) * (sorted[above] - sorted[below]);
    }
}
