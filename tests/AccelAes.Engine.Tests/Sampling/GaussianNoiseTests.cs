using AccelAes.Engine.Sampling;

namespace AccelAes.Engine.Tests.Sampling;

public class GaussianNoiseTests
{
    [Fact]
    public void Same_seed_same_values_and_elements_depend_only_on_their_index()
    {
        float[] a = GaussianNoise.Create(1000, 42);
        Assert.Equal(a, GaussianNoise.Create(1000, 42));
        var tail = new float[300];
        GaussianNoise.Fill(tail, 42, offset: 700);
        Assert.Equal(a.AsSpan(700).ToArray(), tail);
        Assert.NotEqual(a, GaussianNoise.Create(1000, 43));
    }

    [Fact]
    public void Samples_are_standard_normal()
    {
        float[] x = GaussianNoise.Create(200_000, 7);
        double mean = x.Average(v => (double)v);
        double variance = x.Sum(v => (v - mean) * (v - mean)) / (x.Length - 1);
        double within1 = x.Count(v => Math.Abs(v) < 1) / (double)x.Length;
        Assert.InRange(mean, -0.01, 0.01);
        Assert.InRange(variance, 0.98, 1.02);
        Assert.InRange(within1, 0.676, 0.689); // 68.27 %
        Assert.All(x, v => Assert.True(float.IsFinite(v)));
    }
}
