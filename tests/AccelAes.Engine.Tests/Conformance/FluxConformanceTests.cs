using AccelAes.Engine.Components;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Conformance;

/// <summary>FluxTransformer2DModel, the FLUX packing and the FluxPipeline sampling loop against diffusers' own outputs (../shared/conformance/flux_tiny).</summary>
public class FluxConformanceTests
{
    private static readonly string[] ForwardInputs =
        ["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep", "img_ids", "txt_ids", "guidance"];

    private static Dictionary<string, GoldenTensor> GoldenInputs() => GoldenTensors.Load(GoldenFiles.At("flux_tiny", "inputs.safetensors"));
    private static Dictionary<string, GoldenTensor> GoldenOutputs() => GoldenTensors.Load(GoldenFiles.At("flux_tiny", "outputs.safetensors"));
    private static Dictionary<string, GoldenTensor> GoldenTrajectory() => GoldenTensors.Load(GoldenFiles.At("flux_tiny", "trajectory", "trajectory.safetensors"));

    private static FlowMatchEulerSchedulerConfig TrajectoryScheduler()
        => FlowMatchEulerSchedulerConfig.From(JsonConfig.Load(GoldenFiles.At("flux_tiny", "trajectory", "scheduler_config.json")));

    [GoldenTheory]
    [InlineData(null, "sample")]
    [InlineData("bf16", "sample_bf16_weights")]
    public void Forward_matches_diffusers(string? variant, string output)
    {
        var component = ConformanceHarness.LoadComponent("flux_tiny", variant);
        Assert.Empty(component.UnusedTensors);
        var expected = GoldenOutputs()[output];
        var result = component.Forward.Forward(ConformanceHarness.Inputs(GoldenInputs(), ForwardInputs));
        Assert.Equal(expected.Shape, result["sample"].Shape.ToArray());
        GoldenTensors.AssertConforms(expected.Values, ConformanceHarness.Cpu.Download(result["sample"]), $"flux_tiny {output}");
    }

    [GoldenFact]
    public void Deprecated_batched_ids_give_the_same_sample()
    {
        var component = ConformanceHarness.LoadComponent("flux_tiny");
        var inputs = ConformanceHarness.Inputs(GoldenInputs(), ForwardInputs);
        foreach (string ids in new[] { "img_ids", "txt_ids" })
        {
            Tensor two = inputs[ids];
            inputs[ids] = ConformanceHarness.Cpu.Concat(0, two.Reshape(1, two.Shape[0], 3), two.Reshape(1, two.Shape[0], 3));
        }
        var result = component.Forward.Forward(inputs);
        GoldenTensors.AssertConforms(GoldenOutputs()["sample"].Values, ConformanceHarness.Cpu.Download(result["sample"]), "flux_tiny sample, 3-D ids");
    }

    [GoldenFact]
    public void Unpacked_output_matches_the_pipeline_unpack()
    {
        var outputs = GoldenOutputs();
        var unpacked = outputs["sample_unpacked"];
        Tensor packed = ConformanceHarness.Upload(outputs["sample"]);
        Tensor ours = FluxLatentPacking.Unpack(packed, unpacked.Shape[2], unpacked.Shape[3]);
        Assert.Equal(unpacked.Shape, ours.Shape.ToArray());
        Assert.Equal(unpacked.Values, ConformanceHarness.Cpu.Download(ours));
        // The pixel-size form rounds like _unpack_latents(latents, height, width, vae_scale_factor=8).
        Tensor fromPixels = FluxLatentPacking.UnpackFromImageSize(packed, 8 * unpacked.Shape[2], 8 * unpacked.Shape[3]);
        Assert.Equal(unpacked.Values, ConformanceHarness.Cpu.Download(fromPixels));
    }

    [GoldenTheory]
    [InlineData("inputs.safetensors", "hidden_states_unpacked", "hidden_states")]
    [InlineData("trajectory/trajectory.safetensors", "initial_latents_unpacked", "initial_latents")]
    public void Packing_the_unpacked_latents_gives_the_packed_ones(string file, string unpackedName, string packedName)
    {
        var golden = GoldenTensors.Load(GoldenFiles.At(["flux_tiny", .. file.Split('/')]));
        Tensor ours = FluxLatentPacking.Pack(ConformanceHarness.Upload(golden[unpackedName]));
        Assert.Equal(golden[packedName].Shape, ours.Shape.ToArray());
        Assert.Equal(golden[packedName].Values, ConformanceHarness.Cpu.Download(ours));
    }

    [GoldenFact]
    public void Image_ids_are_the_pipeline_ids_of_the_packed_grid()
    {
        var trajectory = GoldenTrajectory();
        var (gh, gw) = FluxLatentPacking.TokenGrid(128, 192);
        Assert.Equal(trajectory["img_ids"].Values, FluxLatentPacking.LatentImageIds(gh, gw));
        Assert.Equal(GoldenInputs()["img_ids"].Values, FluxLatentPacking.LatentImageIds(gh, gw));
        Assert.Equal(trajectory["txt_ids"].Values, FluxLatentPacking.TextIds(trajectory["prompt_embeds"].Shape[1]));
    }

    [GoldenFact]
    public void Schedule_reproduces_the_pipeline_sigmas_and_timesteps_bit_for_bit()
    {
        var golden = GoldenTrajectory();
        int steps = golden["timesteps"].Values.Length;
        var schedule = FluxPipeline.Schedule(steps, golden["initial_latents"].Shape[1], TrajectoryScheduler());
        Assert.Equal(golden["timesteps"].Values, schedule.Timesteps);
        Assert.Equal(golden["sigmas"].Values, schedule.Sigmas);
    }

    [GoldenFact]
    public void Trajectory_matches_the_diffusers_pipeline_at_every_step()
    {
        var golden = GoldenTrajectory();
        var component = ConformanceHarness.LoadComponent("flux_tiny");
        var pipeline = new FluxPipeline(((FluxTransformerComponent)component.Forward).Model);
        var inputs = ConformanceHarness.Inputs(golden, "prompt_embeds", "pooled_prompt_embeds");
        inputs["latents"] = ConformanceHarness.Upload(golden["initial_latents"]);
        var settings = new DenoiseSettings
        {
            Steps = golden["timesteps"].Values.Length,
            GuidanceScale = golden["guidance"].Values[0],
            Scheduler = TrajectoryScheduler(),
            Height = 128,
            Width = 192,
        };
        Assert.Equal(3.5f, settings.GuidanceScale);
        int stepsSeen = 0;
        Tensor final = pipeline.Denoise(inputs, settings, (i, latents) =>
        {
            GoldenTensors.AssertConforms(golden[$"latents_step_{i}"].Values, ConformanceHarness.Cpu.Download(latents), $"step {i}");
            stepsSeen++;
        });
        Assert.Equal(settings.Steps, stepsSeen);
        GoldenTensors.AssertConforms(golden["final_latents_unpacked"].Values,
            ConformanceHarness.Cpu.Download(FluxLatentPacking.UnpackFromImageSize(final, 128, 192)), "final latents, unpacked");
    }
}
