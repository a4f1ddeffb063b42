using System.Diagnostics;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Benchmarks;

/// <summary>A measured sparse-forward cost against the FLOP model's prediction (what `accelaes explain` prints).</summary>
public sealed record SparseCostMeasurement(string Config, int ImageTokens, int TextTokens, double FocusFraction,
    double DenseSeconds, double SparseSeconds, double PredictedRatio)
{
    public double MeasuredRatio => SparseSeconds / DenseSeconds;

    /// <summary>(measured − predicted) / predicted.</summary>
    public double Deviation => MeasuredRatio / PredictedRatio - 1;
}

/// <summary>
/// Times a dense and a SkipSparse forward of an SD3-shaped transformer with random weights, and compares their
/// ratio with <see cref="SparseCostModel"/>'s prediction for the same shape.
/// </summary>
public static class SparseCostBenchmark
{
    public static SparseCostMeasurement MeasureSd3(IBackend backend, int blocks = 6, int heads = 8, int headDim = 64, int grid = 32,
        int textTokens = 128, double focusFraction = 0.5, int repeats = 3)
    {
        int dim = heads * headDim;
        var config = new Sd3TransformerConfig
        {
            SampleSize = grid * 2, PatchSize = 2, InChannels = 16, OutChannels = 16, NumLayers = blocks, AttentionHeadDim = headDim,
            NumAttentionHeads = heads, JointAttentionDim = dim, CaptionProjectionDim = dim, PooledProjectionDim = dim, PosEmbedMaxSize = grid,
        };
        var model = new Sd3Transformer2DModel(new WeightReader(new RandomWeightSource(1), backend), config);
        int n = grid * grid;
        Tensor latents = backend.Upload(GaussianNoise.Create(16 * 4 * n, 1), new Shape(1, 16, 2 * grid, 2 * grid));
        Tensor context = backend.Upload(GaussianNoise.Create(textTokens * dim, 2), new Shape(1, textTokens, dim));
        Tensor pooled = backend.Upload(GaussianNoise.Create(dim, 3), new Shape(1, dim));
        Tensor t = backend.Upload([500f], new Shape(1));

        var rng = new Random(4);
        int[] focus = Enumerable.Range(0, n).OrderBy(_ => rng.Next()).Take((int)Math.Round(focusFraction * n)).Order().ToArray();
        var sparse = new SparseForward();
        sparse.SetFocus(focus, n);
        sparse.BeginStep(StepKind.FullFillCache, null);
        sparse.BeginForward(0, 0);
        Sync(backend, model.Forward(latents, context, pooled, t, sparse));

        double dense = Median(repeats, () => Sync(backend, model.Forward(latents, context, pooled, t)));
        sparse.BeginStep(StepKind.Sparse, null);
        double sparseTime = Median(repeats, () =>
        {
            sparse.BeginForward(0, 0);
            Sync(backend, model.Forward(latents, context, pooled, t, sparse));
        });
        sparse.Release();
        double predicted = SparseCostModel.Sd3Medium(n, textTokens, blocks, dim, contextDim: dim).SparseCost((double)focus.Length / n);
        return new SparseCostMeasurement($"SD3-shaped, {blocks} blocks, D {dim} ({heads}×{headDim})", n, textTokens,
            (double)focus.Length / n, dense, sparseTime, predicted);
    }

    /// <summary>Waits for the result (the download synchronises an asynchronous backend).</summary>
    private static void Sync(IBackend backend, Tensor result) => backend.Download(result);

    private static double Median(int repeats, Action run)
    {
        run(); // warm-up
        var times = new double[Math.Max(1, repeats)];
        for (int i = 0; i < times.Length; i++)
        {
            var watch = Stopwatch.StartNew();
            run();
            times[i] = watch.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        return times[times.Length / 2];
    }
}
