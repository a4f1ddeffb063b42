using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>SkipSparse, AesMask capture and StepCache on the SD3 transformer (CPU reference semantics).</summary>
public class Sd3SparseForwardTests
{
    private readonly CpuBackend _cpu = new();

    private static Sd3TransformerConfig Config(bool sd35) => new()
    {
        SampleSize = 16, PatchSize = 2, InChannels = 4, OutChannels = 4, NumLayers = 3, AttentionHeadDim = 8, NumAttentionHeads = 2,
        JointAttentionDim = 12, CaptionProjectionDim = 16, PooledProjectionDim = 10, PosEmbedMaxSize = 12,
        QkNorm = sd35 ? "rms_norm" : null, DualAttentionLayers = sd35 ? [1] : [],
    };

    private (Sd3Transformer2DModel Model, Tensor[] Inputs) Setup(bool sd35, int batch = 2)
    {
        var model = new Sd3Transformer2DModel(new WeightReader(new RandomWeightSource(11), _cpu), Config(sd35));
        Tensor[] inputs =
        [
            _cpu.Upload(TestData.Random(batch * 4 * 8 * 10, 1), new Shape(batch, 4, 8, 10)),
            _cpu.Upload(TestData.Random(batch * 5 * 12, 2), new Shape(batch, 5, 12)),
            _cpu.Upload(TestData.Random(batch * 10, 3), new Shape(batch, 10)),
            _cpu.Upload(Enumerable.Repeat(500f, batch).ToArray(), new Shape(batch)),
        ];
        return (model, inputs);
    }

    private float[] Run(Sd3Transformer2DModel model, Tensor[] x, SparseForward? sparse)
        => _cpu.Download(model.Forward(x[0], x[1], x[2], x[3], sparse));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_sparse_forward_whose_focus_is_every_token_equals_the_dense_forward(bool sd35)
    {
        var (model, x) = Setup(sd35);
        float[] dense = Run(model, x, null);
        var sparse = new SparseForward();
        sparse.SetFocus(Enumerable.Range(0, 20).ToArray(), 20);
        sparse.BeginStep(StepKind.FullFillCache, null);
        sparse.BeginForward(0, 1);
        TestData.AssertClose(dense, Run(model, x, sparse), 0, "fill step");
        sparse.BeginStep(StepKind.Sparse, null);
        sparse.BeginForward(0, 1);
        Assert.True(GoldenTensors.RelativeMaxError(dense, Run(model, x, sparse)) <= 1e-5);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void With_unchanged_inputs_any_focus_subset_reproduces_the_dense_forward(bool sd35)
    {
        // Background rows come from the cache of the fill step; with the same inputs they are exactly what a dense
        // forward computes, so the assembled output must equal it — for any focus set.
        var (model, x) = Setup(sd35);
        float[] dense = Run(model, x, null);
        var sparse = new SparseForward();
        sparse.SetFocus([0, 3, 4, 11, 19], 20);
        sparse.BeginStep(StepKind.FullFillCache, null);
        sparse.BeginForward(0, 1);
        Run(model, x, sparse);
        sparse.BeginStep(StepKind.Sparse, null);
        sparse.BeginForward(0, 1);
        Assert.True(GoldenTensors.RelativeMaxError(dense, Run(model, x, sparse)) <= 1e-5);
        Assert.True(sparse.CacheBytes > 0);
    }

    [Fact]
    public void Background_rows_keep_the_fill_steps_values_when_inputs_change()
    {
        var (model, x) = Setup(false);
        var sparse = new SparseForward();
        sparse.SetFocus([0, 1, 2], 20);
        sparse.BeginStep(StepKind.FullFillCache, null);
        sparse.BeginForward(0, 1);
        Run(model, x, sparse);
        Tensor[] moved = [x[0], x[1], x[2], _cpu.Upload([100f, 100f], new Shape(2))];
        float[] denseMoved = Run(model, moved, null);
        sparse.BeginStep(StepKind.Sparse, null);
        sparse.BeginForward(0, 1);
        float[] sparseMoved = Run(model, moved, sparse);
        Assert.True(TestData.MaxAbsDiff(denseMoved, sparseMoved) > 1e-4, "stale background rows must show");
    }

    [Fact]
    public void Capture_reduces_the_conditional_image_to_text_probabilities()
    {
        var (model, x) = Setup(false);
        var options = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Sd3) with { CaptureLayers = [0, 2] };
        float[] weights = [0f, 1f, 0.5f, 0.25f, 1f];
        var builder = new AesMaskBuilder(options, model.BlockCount, 4, 5, weights);
        var sparse = new SparseForward();
        sparse.BeginStep(StepKind.FullCaptureMask, new AffinityCapture(builder, weights));
        sparse.BeginForward(0, condBatchIndex: 1);
        float[] captured = Run(model, x, sparse);
        TestData.AssertClose(Run(model, x, null), captured, 0, "capture must not change the output");
        Assert.Equal([0, 2], builder.Accumulator.AddedLayers.Order());
        float[] heat = builder.Accumulator.Result();
        Assert.Equal(20, heat.Length);
        Assert.All(heat, h => Assert.True(h > 0 && h < 1));
    }

    [Fact]
    public void Interval_one_without_a_mask_equals_dense_sampling()
    {
        var (model, x) = Setup(false, batch: 1);
        var cond = new Sd3Conditioning(x[1], x[2], _cpu.Upload(TestData.Random(60, 9), new Shape(1, 5, 12)), _cpu.Upload(TestData.Random(10, 10), new Shape(1, 10)));
        var sigmas = new FlowMatchEulerScheduler(new FlowMatchEulerSchedulerConfig { Shift = 3.0 }).SetTimesteps(5);
        var denoiser = new Sd3Denoiser(model, cond, 5f);
        Tensor a = _cpu.Copy(x[0]), b = _cpu.Copy(x[0]);
        DenoiseLoop.Run(a, sigmas, denoiser);
        var options = AccelerationOptions.ForPreset(AccelerationPreset.None, Backbone.Sd3) with { Steps = 5, GuidanceScale = 5 };
        var report = AcceleratedSampling.Run(b, sigmas, options, new AccelerationGeometry(4, 5, 8, 10, model.BlockCount), denoiser, PromptWeights.Uniform(5));
        Assert.Equal(_cpu.Download(a), _cpu.Download(b));
        Assert.Equal([0, 1, 2, 3, 4], report.StepsRun);
    }

    [Fact]
    public void An_accelerated_run_executes_exactly_the_schedule_it_reports()
    {
        var (model, x) = Setup(false, batch: 1);
        var cond = new Sd3Conditioning(x[1], x[2], _cpu.Upload(TestData.Random(60, 9), new Shape(1, 5, 12)), _cpu.Upload(TestData.Random(10, 10), new Shape(1, 10)));
        var sigmas = new FlowMatchEulerScheduler(new FlowMatchEulerSchedulerConfig { Shift = 3.0 }).SetTimesteps(12);
        var options = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Sd3) with
        {
            Steps = 12, GuidanceScale = 5, MaskStep = 2, Warmup = 2, SkipSparse = true, SpatialCfg = true, StdThreshold = 0.0,
        };
        var counting = new CountingPredictor(new Sd3Denoiser(model, cond, 5f));
        var report = AcceleratedSampling.Run(_cpu.Copy(x[0]), sigmas, options, new AccelerationGeometry(4, 5, 8, 10, model.BlockCount),
            counting, [0f, 1f, 1f, 0.5f, 0f]);
        Assert.Equal(report.Schedule.ComputedIndices, report.StepsRun);
        Assert.Equal(report.StepsRun, counting.Steps);
        Assert.Equal(report.Schedule.SparseCount, report.SparseForwards);
        Assert.Equal(report.Schedule.SkippedCount, report.Skipped);
        Assert.True(report.Skipped > 0 && report.SparseForwards > 0, $"{report.Skipped} skipped, {report.SparseForwards} sparse");
        Assert.NotNull(report.Mask);
        Assert.False(report.Mask!.Fallback);
        Assert.Equal(StepKind.FullCaptureMask, report.Schedule[2].Kind);
        Assert.Equal(StepKind.FullFillCache, report.Schedule[3].Kind);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void With_sparse_ffn_off_no_ff_cache_is_kept_and_a_sparse_forward_over_every_token_equals_the_dense_forward(bool sd35)
    {
        var (model, x) = Setup(sd35);
        var sparse = new SparseForward(sparseFeedForward: false);
        sparse.SetFocus(Enumerable.Range(0, 20).ToArray(), 20);
        sparse.BeginStep(StepKind.FullFillCache, null);
        sparse.BeginForward(0, 1);
        TestData.AssertClose(Run(model, x, null), Run(model, x, sparse), 0, "fill step");
        Assert.Throws<InvalidOperationException>(() => sparse.Cached(0, JointTransformerBlock.FeedForwardCache));
        // Attention caches only: [2, 20, 16] fp32 per attention (3 blocks, plus SD3.5's attn2 in block 1).
        Assert.Equal((sd35 ? 4L : 3L) * 2 * 20 * 16 * sizeof(float), sparse.CacheBytes);

        Tensor[] moved = [_cpu.Upload(TestData.Random(2 * 4 * 8 * 10, 8), new Shape(2, 4, 8, 10)), x[1], x[2], _cpu.Upload([100f, 100f], new Shape(2))];
        sparse.BeginStep(StepKind.Sparse, null);
        sparse.BeginForward(0, 1);
        Assert.True(GoldenTensors.RelativeMaxError(Run(model, moved, null), Run(model, moved, sparse)) <= 1e-5);
    }

    [Fact]
    public void With_sparse_ffn_off_and_unchanged_inputs_a_focus_subset_reproduces_the_dense_forward()
    {
        var (model, x) = Setup(true);
        var sparse = new SparseForward(sparseFeedForward: false);
        sparse.SetFocus([0, 3, 4, 11, 19], 20);
        sparse.BeginStep(StepKind.FullFillCache, null);
        sparse.BeginForward(0, 1);
        Run(model, x, sparse);
        sparse.BeginStep(StepKind.Sparse, null);
        sparse.BeginForward(0, 1);
        Assert.True(GoldenTensors.RelativeMaxError(Run(model, x, null), Run(model, x, sparse)) <= 1e-5);
    }

    [Fact]
    public void Sparse_ffn_off_recomputes_the_background_mlp_rows()
    {
        // Fill at one timestep, sparse step at another: on, the background MLP rows are the fill step's; off, they
        // are computed from the current input. Attention background rows are stale under both.
        var (model, x) = Setup(false);
        Tensor[] moved = [x[0], x[1], x[2], _cpu.Upload([100f, 100f], new Shape(2))];
        float[] SparseStep(bool sparseFeedForward)
        {
            var sparse = new SparseForward(sparseFeedForward);
            sparse.SetFocus([0, 1, 2], 20);
            sparse.BeginStep(StepKind.FullFillCache, null);
            sparse.BeginForward(0, 1);
            Run(model, x, sparse);
            sparse.BeginStep(StepKind.Sparse, null);
            sparse.BeginForward(0, 1);
            return Run(model, moved, sparse);
        }
        float[] on = SparseStep(true), off = SparseStep(false);
        Assert.True(TestData.MaxAbsDiff(on, off) > 1e-4, "sparse_ffn off must change the sparse step's output");
        Assert.True(TestData.MaxAbsDiff(Run(model, moved, null), off) > 1e-4, "stale attention rows must still show");
    }

    [Fact]
    public void The_sampler_passes_sparse_ffn_to_the_forwards()
    {
        var (model, x) = Setup(false, batch: 1);
        var cond = new Sd3Conditioning(x[1], x[2], _cpu.Upload(TestData.Random(60, 9), new Shape(1, 5, 12)), _cpu.Upload(TestData.Random(10, 10), new Shape(1, 10)));
        var sigmas = new FlowMatchEulerScheduler(new FlowMatchEulerSchedulerConfig { Shift = 3.0 }).SetTimesteps(12);
        var options = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Sd3) with
        {
            Steps = 12, GuidanceScale = 5, MaskStep = 2, Warmup = 2, SkipSparse = true, StdThreshold = 0.0,
        };
        (float[] Latents, AcceleratedRunReport Report) Sample(AccelerationOptions o)
        {
            Tensor latents = _cpu.Copy(x[0]);
            var report = AcceleratedSampling.Run(latents, sigmas, o, new AccelerationGeometry(4, 5, 8, 10, model.BlockCount),
                new Sd3Denoiser(model, cond, 5f), [0f, 1f, 1f, 0.5f, 0f]);
            return (_cpu.Download(latents), report);
        }
        var (on, onReport) = Sample(options);
        var (off, offReport) = Sample(options.With("sparse_ffn", "off"));
        Assert.Equal(onReport.StepsRun, offReport.StepsRun);
        Assert.True(offReport.SparseForwards > 0);
        Assert.True(TestData.MaxAbsDiff(on, off) > 1e-5, "sparse_ffn off must change the sampled latents");
        // The batched CFG forward [2, 20, 16] per cache: attention and MLP per block on, attention only off.
        Assert.Equal(3L * 2 * 20 * 16 * sizeof(float), offReport.PeakCacheBytes);
        Assert.Equal(2 * offReport.PeakCacheBytes, onReport.PeakCacheBytes);
        Assert.True(offReport.Schedule.RelativeCost > onReport.Schedule.RelativeCost);
    }

    private sealed class CountingPredictor(IAcceleratedPredictor inner) : IAcceleratedPredictor
    {
        public List<int> Steps { get; } = [];

        public Tensor Predict(Tensor latents, int step, SigmaSchedule sigmas, SparseForward sparse, Func<GuidanceScaleMap> guidance)
        {
            Steps.Add(step);
            return inner.Predict(latents, step, sigmas, sparse, guidance);
        }
    }
}
