namespace AccelAes.Engine.Acceleration.Ras;

/// <summary>
/// RAS's token choice for the next step, as the official scheduler makes it (microsoft/RAS
/// src/ras/schedulers/ras_scheduling_flow_match_euler_discrete.py, <c>ras_selection</c>, at commit
/// a9c5ec8fb2147ef450a7e3b5ec3b7bdd0006de3f), from this step's update Δσ·v (v the guided velocity the sampler integrates):
/// <list type="number">
/// <item>per latent pixel the metric over channels (<c>std</c>: the unbiased standard deviation, as <c>torch.std</c>; or
/// <c>l2norm</c>), averaged over the token's p×p patch;</item>
/// <item>times exp(<c>starvation_scale</c> · drop count), the drop counts starting at −(steps + 1) (the official
/// <c>drop_cnt</c> starts at −len(sigmas)) and growing by one each time a token is dropped;</item>
/// <item>tokens sorted by that value, ascending; of the step's <c>d</c> dropped tokens <c>int(d·(1 − high_ratio))</c> are
/// the lowest and <c>int(d·high_ratio)</c> the highest; the tokens between are recomputed.</item>
/// </list>
/// Equal values keep token order (a stable sort; torch's is unspecified). One instance per run: it holds the drop counts.
/// </summary>
public sealed class RasTokenSelection
{
    private readonly RasSettings _settings;
    private readonly int _gridHeight, _gridWidth;
    private readonly float[] _dropCount;

    /// <param name="steps">The run's steps (the drop counts start at −(steps + 1)).</param>
    public RasTokenSelection(RasSettings settings, int gridHeight, int gridWidth, int steps)
    {
        _settings = settings;
        _gridHeight = gridHeight;
        _gridWidth = gridWidth;
        _dropCount = new float[gridHeight * gridWidth];
        Array.Fill(_dropCount, -(steps + 1));
    }

    /// <summary>How often each token was dropped, offset by −(steps + 1) as the official counter.</summary>
    public IReadOnlyList<float> DropCounts => _dropCount;

    /// <summary>The official split of <paramref name="dropped"/> tokens: how many from the bottom and how many from the top of the ranking.</summary>
    public static (int Low, int High) Split(int dropped, double highRatio)
        => ((int)(dropped * (1 - highRatio)), (int)(dropped * highRatio));

    /// <summary>
    /// The tokens the next step recomputes, ascending, and the drop counts updated for the others.
    /// </summary>
    /// <param name="velocity">This step's guided velocity of one image, [C, H, W] row-major.</param>
    /// <param name="stepSize">σᵢ₊₁ − σᵢ of this step (the official metric is taken on the update <c>diff</c>).</param>
    /// <param name="dropped">The next step's dropped-token count (<see cref="RasStepSchedule.Dropped"/>).</param>
    public int[] Select(ReadOnlySpan<float> velocity, int channels, int height, int width, float stepSize, int dropped)
    {
        float[] metric = Metric(velocity, channels, height, width, stepSize);
        int n = metric.Length;
        for (int t = 0; t < n; t++) metric[t] *= MathF.Exp((float)_settings.StarvationScale * _dropCount[t]);
        int[] order = Enumerable.Range(0, n).OrderBy(t => metric[t]).ToArray(); // LINQ's OrderBy is stable
        var (low, high) = Split(dropped, _settings.HighRatio);
        for (int i = 0; i < low; i++) _dropCount[order[i]]++;
        for (int i = n - high; i < n; i++) _dropCount[order[i]]++;
        return order[low..(n - high)].Order().ToArray();
    }

    /// <summary>The per-token metric of Δσ·v before the starvation weight (row-major over the token grid).</summary>
    public float[] Metric(ReadOnlySpan<float> velocity, int channels, int height, int width, float stepSize)
    {
        if (height % _gridHeight != 0 || width % _gridWidth != 0 || height / _gridHeight != width / _gridWidth)
            throw new ArgumentException($"A {height}×{width} latent does not tile into the {_gridHeight}×{_gridWidth} token grid.");
        if (velocity.Length != channels * height * width)
            throw new ArgumentException($"The velocity holds {velocity.Length} values, not {channels}×{height}×{width}.");
        int patch = height / _gridHeight, plane = height * width;
        var perPixel = new float[plane];
        var values = new double[channels];
        for (int p = 0; p < plane; p++)
        {
            for (int c = 0; c < channels; c++) values[c] = stepSize * velocity[c * plane + p];
            perPixel[p] = (float)(_settings.Metric == RasMetric.Std ? StandardDeviation(values) : L2Norm(values));
        }
        var metric = new float[_gridHeight * _gridWidth];
        for (int r = 0; r < _gridHeight; r++)
        {
            for (int c = 0; c < _gridWidth; c++)
            {
                double sum = 0;
                for (int y = 0; y < patch; y++)
                    for (int x = 0; x < patch; x++) sum += perPixel[(r * patch + y) * width + c * patch + x];
                metric[r * _gridWidth + c] = (float)(sum / (patch * patch));
            }
        }
        return metric;
    }

    /// <summary><c>torch.std</c>'s default: Bessel-corrected (n − 1); one channel gives NaN there, 0 here.</summary>
    private static double StandardDeviation(double[] v)
    {
        if (v.Length < 2) return 0;
        double mean = v.Average();
        double sq = v.Sum(x => (x - mean) * (x - mean));
        return Math.Sqrt(sq / (v.Length - 1));
    }

    private static double L2Norm(double[] v) => Math.Sqrt(v.Sum(x => x * x));
}
