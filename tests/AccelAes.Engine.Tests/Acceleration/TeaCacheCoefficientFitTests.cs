using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.TeaCache;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>
/// SD3's TeaCache coefficients: the authors published none, so <see cref="TeaCacheRescale.Sd3"/> is fitted as they
/// describe, on the tiny random-weight SD3 (the only SD3 runnable here; the README says so).
/// </summary>
public class TeaCacheCoefficientFitTests(ITestOutputHelper output)
{
    private readonly CpuBackend _cpu = new();

    [Fact]
    public void The_fit_recovers_a_known_polynomial_highest_power_first()
    {
        double[] coefficients = [393.76566581, -603.50993606, 209.10239044, -23.00726601, 0.86377344];
        var rescale = TeaCacheRescale.Custom(coefficients);
        double[] x = [.. Enumerable.Range(0, 40).Select(i => 0.01 * i)];
        double[] fitted = TeaCacheCalibration.PolyFit(x, [.. x.Select(rescale.Evaluate)], 4);
        for (int i = 0; i < coefficients.Length; i++) Assert.Equal(coefficients[i], fitted[i], 1e-6 * Math.Abs(coefficients[i]) + 1e-9);
    }

    /// <summary>
    /// The calibration behind <see cref="TeaCacheRescale.Sd3"/>: 28-step dense runs of the tiny random-weight SD3
    /// (batched CFG 7, shift 3) from eight latents, every consecutive-step pair, <c>np.polyfit(x, y, 4)</c>.
    /// </summary>
    [Fact]
    public void Sd3_default_coefficients_are_the_authors_fit_on_the_tiny_random_weight_SD3()
    {
        var model = new Sd3Transformer2DModel(new WeightReader(new RandomWeightSource(17), _cpu), new Sd3TransformerConfig
        {
            SampleSize = 16, PatchSize = 2, InChannels = 4, OutChannels = 4, NumLayers = 3, AttentionHeadDim = 8, NumAttentionHeads = 2,
            JointAttentionDim = 12, CaptionProjectionDim = 16, PooledProjectionDim = 10, PosEmbedMaxSize = 12,
        });
        SigmaSchedule schedule = new FlowMatchEulerScheduler(new FlowMatchEulerSchedulerConfig { Shift = 3.0 }).SetTimesteps(28);
        var calibration = new TeaCacheCalibration();
        for (int seed = 0; seed < 8; seed++)
        {
            var conditioning = new Sd3Conditioning(
                _cpu.Upload(TestData.Random(5 * 12, 100 + seed), new Shape(1, 5, 12)), _cpu.Upload(TestData.Random(10, 200 + seed), new Shape(1, 10)),
                _cpu.Upload(TestData.Random(5 * 12, 300 + seed), new Shape(1, 5, 12)), _cpu.Upload(TestData.Random(10, 400 + seed), new Shape(1, 10)));
            using var denoiser = new Sd3Denoiser(model, conditioning, 7f);
            Tensor latents = _cpu.Upload(TestData.Random(4 * 8 * 8, seed), new Shape(1, 4, 8, 8));
            DenoiseLoop.Run(latents, schedule, new CachePolicyPredictor(denoiser, calibration));
        }
        Assert.Equal(8 * 27, calibration.InputChanges.Count);
        double[] fitted = TeaCacheCalibration.PolyFit(calibration.InputChanges, calibration.OutputChanges, 4);
        output.WriteLine($"fitted (highest power first): [{string.Join(", ", fitted.Select(c => c.ToString("R")))}]");
        output.WriteLine($"x range [{calibration.InputChanges.Min()}, {calibration.InputChanges.Max()}], y range [{calibration.OutputChanges.Min()}, {calibration.OutputChanges.Max()}]");
        var published = TeaCacheRescale.Sd3.Coefficients;
        for (int i = 0; i < fitted.Length; i++) Assert.Equal(fitted[i], published[i], 1e-6 * Math.Abs(fitted[i]) + 1e-9);
    }
}
