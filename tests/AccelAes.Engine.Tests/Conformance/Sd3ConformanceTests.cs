using AccelAes.Engine.Components;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Sampling;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Conformance;

/// <summary>SD3Transformer2DModel and the SD3 sampling loop against diffusers' own outputs (../shared/conformance/sd3_tiny).</summary>
public class Sd3ConformanceTests
{
    [GoldenTheory]
    [InlineData(null, "sample")]
    [InlineData("bf16", "sample_bf16_weights")]
    public void Forward_matches_diffusers(string? variant, string output)
    {
        var component = ConformanceHarness.LoadComponent("sd3_tiny", variant);
        Assert.Empty(component.UnusedTensors);
        var inputs = GoldenTensors.Load(GoldenFiles.At("sd3_tiny", "inputs.safetensors"));
        var expected = GoldenTensors.Load(GoldenFiles.At("sd3_tiny", "outputs.safetensors"))[output];
        var result = component.Forward.Forward(ConformanceHarness.Inputs(inputs,
            "hidden_states", "encoder_hidden_states", "pooled_projections", "timestep"));
        Assert.Equal(expected.Shape, result["sample"].Shape.ToArray());
        GoldenTensors.AssertConforms(expected.Values, ConformanceHarness.Cpu.Download(result["sample"]), $"sd3_tiny {output}");
    }

    [GoldenFact]
    public void Recomputed_position_table_equals_the_stored_buffer()
    {
        var folder = ModelFolder.Open(GoldenFiles.At("sd3_tiny")).Component("transformer");
        var config = Sd3TransformerConfig.From(folder.Config);
        using var set = Loader.SafeTensors.SafeTensorsSet.OpenComponent(folder.Path, folder.WeightsBaseName, null);
        float[] stored = set.ReadAsFloat32("pos_embed.pos_embed");
        float[] computed = SinCosPositionTable.Create(config.InnerDim, config.PosEmbedMaxSize, config.SampleSize / config.PatchSize);
        GoldenTensors.AssertConforms(stored, computed, "pos_embed table", bar: 1e-6);
    }

    [GoldenFact]
    public void Scheduler_reproduces_the_pipeline_schedule()
    {
        var golden = GoldenTensors.Load(GoldenFiles.At("sd3_tiny", "trajectory", "trajectory.safetensors"));
        var config = FlowMatchEulerSchedulerConfig.From(JsonConfig.Load(GoldenFiles.At("sd3_tiny", "trajectory", "scheduler_config.json")));
        var schedule = new FlowMatchEulerScheduler(config).SetTimesteps(golden["timesteps"].Values.Length);
        Assert.Equal(golden["timesteps"].Values, schedule.Timesteps);
        Assert.Equal(golden["sigmas"].Values, schedule.Sigmas);
    }

    [GoldenTheory]
    [InlineData(GuidanceMode.Batched)]
    [InlineData(GuidanceMode.TwoPass)]
    public void Trajectory_matches_the_diffusers_pipeline_at_every_step(GuidanceMode mode)
    {
        var golden = GoldenTensors.Load(GoldenFiles.At("sd3_tiny", "trajectory", "trajectory.safetensors"));
        var component = ConformanceHarness.LoadComponent("sd3_tiny");
        var pipeline = new Sd3Pipeline(((Sd3TransformerComponent)component.Forward).Model);
        var inputs = ConformanceHarness.Inputs(golden, "prompt_embeds", "pooled_prompt_embeds", "negative_prompt_embeds", "negative_pooled_prompt_embeds");
        inputs["latents"] = ConformanceHarness.Upload(golden["initial_latents"]);
        var settings = new DenoiseSettings
        {
            Steps = golden["timesteps"].Values.Length,
            GuidanceScale = 7f,
            Scheduler = FlowMatchEulerSchedulerConfig.From(JsonConfig.Load(GoldenFiles.At("sd3_tiny", "trajectory", "scheduler_config.json"))),
            Height = 128,
            Width = 192,
            GuidanceMode = mode,
        };
        int stepsSeen = 0;
        pipeline.Denoise(inputs, settings, (i, latents) =>
        {
            GoldenTensors.AssertConforms(golden[$"latents_step_{i}"].Values, ConformanceHarness.Cpu.Download(latents), $"step {i}");
            stepsSeen++;
        });
        Assert.Equal(settings.Steps, stepsSeen);
    }
}
