namespace AccelAes.Engine.Tests;

/// <summary>Fresh random inputs for op tests (seeded per test so failures reproduce).</summary>
internal static class TestData
{
    public static float[] Random(int count, int seed, float low = -1f, float high = 1f)
    {
        var rng = new Random(seed);
        var a = new float[count];
        for (int i = 0; i < a.Length; i++) a[i] = low + (high - low) * rng.NextSingle();
        return a;
    }

    /// <summary>Largest |a − b| over all elements; fails if the lengths differ.</summary>
    public static double MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = Math.Abs((double)a[i] - b[i]);
            if (double.IsNaN(d)) return double.PositiveInfinity;
            m = Math.Max(m, d);
        }
        return m;
    }

    /// <summary>
    /// The conformance rule's shape: max |diff| ≤ <paramref name="relative"/> · max(1, max |expected|). For outputs of
    /// whole models, whose magnitude (Gemma's scaled embeddings, say) makes a fixed absolute bound a test of fp32
    /// rounding rather than of the code.
    /// </summary>
    public static void AssertCloseScaled(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double relative, string what = "")
    {
        double scale = 1;
        foreach (float v in expected) scale = Math.Max(scale, Math.Abs(v));
        AssertClose(expected, actual, relative * scale, what);
    }

    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tolerance, string what = "")
    {
        double diff = MaxAbsDiff(expected, actual);
        Assert.True(diff <= tolerance, $"{what} max |diff| = {diff:E3} > {tolerance:E3}");
    }
}
