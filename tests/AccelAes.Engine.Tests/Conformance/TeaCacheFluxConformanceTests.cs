using System.Text.Json;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Acceleration.TeaCache;
using AccelAes.Engine.Components;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Conformance;

/// <summary>
/// TeaCache on FLUX against the official TeaCache4FLUX code run on the tiny FLUX model
/// (../shared/conformance/teacache_flux, README A.2: 8 steps, guidance 3.5, 128×192, the flux_tiny trajectory inputs).
/// </summary>
public class TeaCacheFluxConformanceTests
{
    private const int Height = 128, Width = 192;

    private static FlowMatchEulerSchedulerConfig Scheduler()
        => FlowMatchEulerSchedulerConfig.From(JsonConfig.Load(GoldenFiles.At("teacache_flux", "scheduler_config.json")));

    private static Dictionary<string, GoldenTensor> Inputs() => GoldenTensors.Load(GoldenFiles.At("teacache_flux", "inputs.safetensors"));

    private sealed record Run(TeaCachePolicy Cache, List<float[]> Latents, SigmaSchedule Schedule);

    /// <summary>The pipeline's loop with TeaCache, as FluxPipeline runs it, keeping the cache to read its decisions.</summary>
    private static Run RunTeaCache(double threshold)
    {
        var inputs = Inputs();
        var model = ((FluxTransformerComponent)ConformanceHarness.LoadComponent("flux_tiny").Forward).Model;
        var (gh, gw) = FluxLatentPacking.TokenGrid(Height, Width);
        int steps = 8;
        SigmaSchedule schedule = FluxPipeline.Schedule(steps, gh * gw, Scheduler());
        var conditioning = new FluxConditioning(ConformanceHarness.Upload(inputs["prompt_embeds"]), ConformanceHarness.Upload(inputs["pooled_prompt_embeds"]));
        Assert.Equal(3.5f, inputs["guidance"].Values[0]);
        using var denoiser = new FluxDenoiser(model, conditioning, gh, gw, inputs["guidance"].Values[0]);
        var cache = new TeaCachePolicy(threshold, steps, TeaCacheRescale.Flux);
        Tensor latents = ConformanceHarness.Upload(inputs["initial_latents"]);
        var perStep = new List<float[]>();
        DenoiseLoop.Run(latents, schedule, new CachePolicyPredictor(denoiser, cache), (_, x) => perStep.Add(ConformanceHarness.Cpu.Download(x)));
        return new Run(cache, perStep, schedule);
    }

    [GoldenTheory]
    [InlineData("thresh_0.25_steps_8", 0.25)]
    [InlineData("thresh_0.6_steps_8", 0.6)]
    public void Decisions_distances_and_latents_match_the_official_TeaCache4FLUX(string @case, double threshold)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(GoldenFiles.At("teacache_flux", @case, "teacache_steps.json")));
        var golden = GoldenTensors.Load(GoldenFiles.At("teacache_flux", @case, "trajectory.safetensors"));
        Assert.Equal(threshold, json.RootElement.GetProperty("rel_l1_thresh").GetDouble());
        var run = RunTeaCache(threshold);

        var expectedSteps = json.RootElement.GetProperty("steps").EnumerateArray().ToList();
        Assert.Equal(expectedSteps.Count, run.Cache.Rule.Decisions.Count);
        foreach (var (expected, ours) in expectedSteps.Zip(run.Cache.Rule.Decisions))
        {
            int i = expected.GetProperty("step").GetInt32();
            Assert.Equal(i, ours.Step);
            Assert.True(expected.GetProperty("computed").GetBoolean() == ours.Computed, $"step {i}: computed {ours.Computed}, official {!ours.Computed}");
            Assert.Equal(expected.GetProperty("forced_full_compute").GetBoolean(), ours.Forced);
            AssertClose(expected.GetProperty("rel_l1"), ours.RelativeL1, $"step {i} rel_l1");
            AssertClose(expected.GetProperty("rescaled"), ours.Rescaled, $"step {i} rescaled");
            AssertClose(expected.GetProperty("accumulated_compared"), ours.AccumulatedCompared, $"step {i} accumulated_compared");
            AssertClose(expected.GetProperty("accumulated_after_step"), ours.AccumulatedAfter, $"step {i} accumulated_after_step");
            GoldenTensors.AssertConforms(golden[$"latents_step_{i}"].Values, run.Latents[i], $"{@case} latents after step {i}");
        }

        // The executed schedule as a run reports it: reused steps are skips.
        AcceleratedRunReport report = run.Cache.Report(run.Schedule);
        int[] cached = json.RootElement.GetProperty("cached_steps").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        int[] computed = json.RootElement.GetProperty("computed_steps").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(cached, report.Schedule.IndicesOf(StepKind.Skip));
        Assert.Equal(computed, report.StepsRun);
        Assert.Equal(cached.Length, report.Skipped);
    }

    private static void AssertClose(JsonElement expected, double? ours, string what)
    {
        if (expected.ValueKind == JsonValueKind.Null)
        {
            Assert.True(ours is null, $"{what}: official null, ours {ours}");
            return;
        }
        Assert.True(ours is double v && Math.Abs(v - expected.GetDouble()) <= 1e-5, $"{what}: ours {ours}, official {expected.GetDouble()}");
    }

    [GoldenTheory]
    [InlineData("thresh_0.25_steps_8", "0.25", "FFFFFFFF")]
    [InlineData("thresh_0.6_steps_8", "0.6", "FXFFXFXF")]
    public void Through_FluxPipeline_the_report_names_the_reused_steps_and_the_latents_match(string @case, string threshold, string letters)
    {
        var inputs = Inputs();
        var golden = GoldenTensors.Load(GoldenFiles.At("teacache_flux", @case, "trajectory.safetensors"));
        var model = ((FluxTransformerComponent)ConformanceHarness.LoadComponent("flux_tiny").Forward).Model;
        var pipeline = new FluxPipeline(model);
        var tensors = ConformanceHarness.Inputs(inputs, "prompt_embeds", "pooled_prompt_embeds");
        tensors["latents"] = ConformanceHarness.Upload(inputs["initial_latents"]);
        AcceleratedRunReport? report = null;
        var settings = new DenoiseSettings
        {
            Steps = 8, GuidanceScale = 3.5f, Scheduler = Scheduler(), Height = Height, Width = Width,
            Acceleration = AccelerationRequest.Parse("teacache", [$"rel_l1_thresh={threshold}"]).Resolve(Backbone.Flux, 8, 3.5),
            OnAccelerationReport = r => report = r,
        };
        Tensor final = pipeline.Denoise(tensors, settings);
        GoldenTensors.AssertConforms(golden["final_latents"].Values, ConformanceHarness.Cpu.Download(final), "final latents");
        Assert.NotNull(report);
        Assert.Equal(letters, report.Schedule.ToLetters());
    }

    [GoldenFact]
    public void Threshold_zero_equals_the_dense_run_bit_for_bit()
    {
        var inputs = Inputs();
        var model = ((FluxTransformerComponent)ConformanceHarness.LoadComponent("flux_tiny").Forward).Model;
        var (gh, gw) = FluxLatentPacking.TokenGrid(Height, Width);
        SigmaSchedule schedule = FluxPipeline.Schedule(8, gh * gw, Scheduler());
        var conditioning = new FluxConditioning(ConformanceHarness.Upload(inputs["prompt_embeds"]), ConformanceHarness.Upload(inputs["pooled_prompt_embeds"]));
        using var denoiser = new FluxDenoiser(model, conditioning, gh, gw, 3.5f);
        Tensor dense = ConformanceHarness.Upload(inputs["initial_latents"]);
        DenoiseLoop.Run(dense, schedule, denoiser);
        var zero = RunTeaCache(0);
        Assert.All(zero.Cache.Rule.Decisions, d => Assert.True(d.Computed));
        Assert.Equal(ConformanceHarness.Cpu.Download(dense), zero.Latents[^1]);
    }
}
