using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.TeaCache;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>
/// <c>--accel teacache</c> on SD3 / SD3.5 and Lumina-Next (batched CFG: one decision per step for the whole batch, as
/// the official code): the polynomials, the rule on hand-computed cases, threshold 0 = dense, and every knob.
/// </summary>
public class TeaCacheBackboneTests
{
    private readonly CpuBackend _cpu = new();

    [Fact]
    public void Lumina_uses_the_official_polynomial_and_SD3_the_fitted_one_with_their_default_thresholds()
    {
        // ali-vilab/TeaCache@7c10efc TeaCache4Lumina-T2X/teacache_lumina_next.py: coefficients and the demo's 0.3.
        Assert.Equal([393.76566581, -603.50993606, 209.10239044, -23.00726601, 0.86377344], TeaCacheRescale.For(Backbone.Lumina).Coefficients);
        Assert.Same(TeaCacheRescale.Flux, TeaCacheRescale.For(Backbone.Flux));
        Assert.Same(TeaCacheRescale.Sd3, TeaCacheRescale.For(Backbone.Sd3));
        Assert.Contains("random-weight", TeaCacheRescale.Sd3.Name);
        var lumina = AccelerationRequest.Parse("teacache", []).Resolve(Backbone.Lumina, 30, 4);
        Assert.Equal((0.3, TeaCacheRescale.Lumina), (lumina.EffectiveRelL1Threshold, lumina.TeaCacheRescale));
        Assert.Equal(0.3, AccelerationRequest.Parse("teacache", []).Resolve(Backbone.Sd3, 28, 7).EffectiveRelL1Threshold);
        Assert.Equal(0.6, AccelerationRequest.Parse("teacache", []).Resolve(Backbone.Flux, 28, 3.5).EffectiveRelL1Threshold);
    }

    [Fact]
    public void Lumina_decisions_follow_the_rule_on_a_hand_computed_case()
    {
        // poly(0.1) = 393.76566581e-4 − 603.50993606e-3 + 209.10239044e-2 − 23.00726601e-1 + 0.86377344 = 0.0899373739…
        Assert.Equal(0.0899373739, TeaCacheRescale.Lumina.Evaluate(0.1), 9);
        // Threshold 0.2, six steps, rel_l1 0.1 every step: acc 0.090 (reuse), 0.180 (reuse), 0.270 (compute, reset),
        // 0.090 (reuse); step 5 is the last and computes.
        var rule = new TeaCacheRule(0.2, 6, TeaCacheRescale.Lumina);
        string letters = new([.. Enumerable.Range(0, 6).Select(i => rule.Decide(i, () => 0.1).Computed ? 'F' : 'X')]);
        Assert.Equal("FXXFXF", letters);
        Assert.Equal(3 * 0.0899373739, rule.Decisions[3].AccumulatedCompared!.Value, 9);
    }

    [Fact]
    public void Sd3_decisions_follow_the_rule_on_a_hand_computed_case()
    {
        // poly(0.3) = −166.3029·0.0081 + 206.9557·0.027 − 92.9900·0.09 + 18.4673·0.3 − 1.0544 = 0.357410
        Assert.Equal(0.357410, TeaCacheRescale.Sd3.Evaluate(0.3), 6);
        // Threshold 0.5, rel_l1 0.3 every step: acc 0.357 (reuse), 0.715 (compute), 0.357 (reuse), 0.715 (compute), last.
        var rule = new TeaCacheRule(0.5, 6, TeaCacheRescale.Sd3);
        Assert.Equal("FXFXFF", new string([.. Enumerable.Range(0, 6).Select(i => rule.Decide(i, () => 0.3).Computed ? 'F' : 'X')]));
        // The knob's polynomial replaces the backbone's: a constant 0.3 reaches 0.5 on every second step too, 0.1 never.
        var constant = new TeaCacheRule(0.5, 6, TeaCacheRescale.Custom([0.1]));
        Assert.Equal("FXXXXF", new string([.. Enumerable.Range(0, 6).Select(i => constant.Decide(i, () => 0.3).Computed ? 'F' : 'X')]));
    }

    [Fact]
    public void The_knobs_parse_validate_and_belong_to_a_TeaCache_rule()
    {
        var o = AccelerationRequest.Parse("teacache", ["coefficients=1,-2.5,3e-1", "rel_l1_thresh=0.4"]).Resolve(Backbone.Sd3, 28, 7);
        Assert.Equal([1, -2.5, 0.3], o.TeaCacheRescale.Coefficients);
        Assert.Equal(0.4, o.EffectiveRelL1Threshold);
        Assert.Equal(TeaCacheRescale.Sd3.Coefficients, AccelerationRequest.Parse("teacache", ["coefficients=auto"]).Resolve(Backbone.Sd3, 28, 7).TeaCacheRescale.Coefficients);
        string Error(string preset, params string[] overrides) =>
            Assert.Throws<AccelAesException>(() => AccelerationRequest.Parse(preset, overrides).Resolve(Backbone.Lumina, 30, 4)).Message;
        Assert.Contains("coefficients: 'a' is not valid", Error("teacache", "coefficients=a,b"));
        Assert.Contains("coefficients: 'auto,' is not valid", Error("teacache", "coefficients=auto,"));
        Assert.Contains("coefficients: must be 1 to 10 finite numbers", Error("teacache", "coefficients=" + string.Join(",", Enumerable.Repeat("1", 11))));
        Assert.Contains("coefficients: only --accel teacache uses it", Error("fora", "coefficients=1,2"));
        Assert.Contains("rel_l1_thresh: only --accel teacache uses it", Error("accelaes", "rel_l1_thresh=0.2"));
        // Records round-trip: where no TeaCache rule runs the knobs are written as auto, which any preset accepts.
        var fora = AccelerationRequest.Parse("fora", []).Resolve(Backbone.Lumina, 30, 4);
        Assert.Contains(new KeyValuePair<string, string>("coefficients", "auto"), fora.KnobValues());
        var again = AccelerationRequest.Parse("teacache", [.. o.KnobValues().Select(kv => $"{kv.Key}={kv.Value}")]).Resolve(Backbone.Sd3, 28, 7);
        Assert.Equal(o.KnobValues(), again.KnobValues());
    }

    private static Sd3Transformer2DModel Sd3Model(CpuBackend cpu, bool sd35) => new(new WeightReader(new RandomWeightSource(17), cpu), new Sd3TransformerConfig
    {
        SampleSize = 16, PatchSize = 2, InChannels = 4, OutChannels = 4, NumLayers = 3, AttentionHeadDim = 8, NumAttentionHeads = 2,
        JointAttentionDim = 12, CaptionProjectionDim = 16, PooledProjectionDim = 10, PosEmbedMaxSize = 12,
        QkNorm = sd35 ? "rms_norm" : null, DualAttentionLayers = sd35 ? [1] : [],
    });

    private Sd3Denoiser Sd3Denoiser(bool sd35) => new(Sd3Model(_cpu, sd35), new Sd3Conditioning(
        _cpu.Upload(TestData.Random(5 * 12, 2), new Shape(1, 5, 12)), _cpu.Upload(TestData.Random(10, 3), new Shape(1, 10)),
        _cpu.Upload(TestData.Random(5 * 12, 4), new Shape(1, 5, 12)), _cpu.Upload(TestData.Random(10, 5), new Shape(1, 10))), 5f);

    private LuminaDenoiser LuminaDenoiser() => new(LuminaSparseForwardTests.Model(_cpu, kvHeads: 2, sharedQuery: true), new LuminaConditioning(
        _cpu.Upload(TestData.Random(LuminaSparseForwardTests.Caption * 12, 42), new Shape(1, LuminaSparseForwardTests.Caption, 12)),
        _cpu.Upload([1, 1, 1, 1, 1, 0], new Shape(1, LuminaSparseForwardTests.Caption)),
        _cpu.Upload(TestData.Random(LuminaSparseForwardTests.Caption * 12, 43), new Shape(1, LuminaSparseForwardTests.Caption, 12)),
        _cpu.Upload([1, 1, 0, 0, 0, 0], new Shape(1, LuminaSparseForwardTests.Caption))), 4f, 1000);

    /// <summary>A denoiser of the backbone (CFG on, batched) and a latent it takes.</summary>
    private (IVelocityPredictor Dense, ICachePolicyDenoiser Cached, Func<Tensor> Latents, Backbone Backbone) Setup(string backbone)
    {
        if (backbone == "lumina")
        {
            var lumina = LuminaDenoiser();
            return (lumina, lumina, () => _cpu.Upload(TestData.Random(4 * 12 * 12, 41, -2f, 2f), new Shape(1, 4, 12, 12)), Backbone.Lumina);
        }
        var sd3 = Sd3Denoiser(backbone == "sd3.5");
        return (sd3, sd3, () => _cpu.Upload(TestData.Random(4 * 8 * 8, 1), new Shape(1, 4, 8, 8)), Backbone.Sd3);
    }

    private (float[] Latents, TeaCachePolicy Policy) RunTeaCache(string backbone, int steps, params string[] overrides)
    {
        var (_, cached, latents, b) = Setup(backbone);
        var options = AccelerationRequest.Parse("teacache", overrides).Resolve(b, steps, b == Backbone.Sd3 ? 5 : 4);
        var policy = (TeaCachePolicy)CachePolicies.For(options, steps)!;
        Tensor x = latents();
        DenoiseLoop.Run(x, Sigmas(steps), new CachePolicyPredictor(cached, policy));
        return (_cpu.Download(x), policy);
    }

    private static SigmaSchedule Sigmas(int steps) => new FlowMatchEulerScheduler(new FlowMatchEulerSchedulerConfig { Shift = 3.0 }).SetTimesteps(steps);

    private static string Letters(TeaCachePolicy policy) => new([.. policy.Rule.Decisions.Select(d => d.Computed ? 'F' : 'X')]);

    [Theory]
    [InlineData("sd3")]
    [InlineData("sd3.5")]
    [InlineData("lumina")]
    public void Threshold_zero_equals_the_dense_run_bit_for_bit(string backbone)
    {
        var (dense, _, latents, _) = Setup(backbone);
        Tensor x = latents();
        DenoiseLoop.Run(x, Sigmas(6), dense);
        var (never, policy) = RunTeaCache(backbone, 6, "rel_l1_thresh=0");
        Assert.Equal("FFFFFF", Letters(policy));
        Assert.Equal(_cpu.Download(x), never);
    }

    [Theory]
    [InlineData("sd3")]
    [InlineData("sd3.5")]
    [InlineData("lumina")]
    public void Each_knob_decides_the_executed_schedule_and_the_decisions_follow_the_rule(string backbone)
    {
        var (defaults, defaultPolicy) = RunTeaCache(backbone, 8);
        var (lazy, lazyPolicy) = RunTeaCache(backbone, 8, "rel_l1_thresh=1000");
        Assert.Equal("FXXXXXXF", Letters(lazyPolicy));
        Assert.NotEqual(defaults, lazy);
        // coefficients: a constant polynomial 1 reaches any threshold ≤ 1 at once (every step computes); 0 never does.
        var (_, eager) = RunTeaCache(backbone, 8, "rel_l1_thresh=0.5", "coefficients=1");
        var (_, idle) = RunTeaCache(backbone, 8, "rel_l1_thresh=0.5", "coefficients=0");
        Assert.Equal("FFFFFFFF", Letters(eager));
        Assert.Equal("FXXXXXXF", Letters(idle));

        // Every decision of the default run, recomputed from its recorded distance with the backbone's polynomial.
        TeaCacheRescale poly = TeaCacheRescale.For(backbone == "lumina" ? Backbone.Lumina : Backbone.Sd3);
        double threshold = defaultPolicy.Rule.Threshold, acc = 0;
        foreach (TeaCacheDecision d in defaultPolicy.Rule.Decisions)
        {
            if (d.Forced) { Assert.True(d.Computed); acc = 0; continue; }
            Assert.True(d.RelativeL1 > 0);
            acc += poly.Evaluate(d.RelativeL1!.Value);
            Assert.Equal(acc >= threshold, d.Computed);
            if (d.Computed) acc = 0;
        }
    }

    [Fact]
    public void Two_pass_CFG_is_refused_naming_the_policy_and_the_fix()
    {
        var denoiser = new Sd3Denoiser(Sd3Model(_cpu, false), new Sd3Conditioning(
            _cpu.Upload(TestData.Random(5 * 12, 2), new Shape(1, 5, 12)), _cpu.Upload(TestData.Random(10, 3), new Shape(1, 10)),
            _cpu.Upload(TestData.Random(5 * 12, 4), new Shape(1, 5, 12)), _cpu.Upload(TestData.Random(10, 5), new Shape(1, 10))), 5f, GuidanceMode.TwoPass);
        var policy = CachePolicies.For(AccelerationRequest.Parse("teacache", []).Resolve(Backbone.Sd3, 3, 5), 3)!;
        var e = Assert.Throws<AccelAesException>(() => DenoiseLoop.Run(_cpu.Upload(TestData.Random(4 * 8 * 8, 1), new Shape(1, 4, 8, 8)), Sigmas(3),
            new CachePolicyPredictor(denoiser, policy)));
        Assert.Contains("teacache: runs one transformer call per step", e.Message);
    }
}
