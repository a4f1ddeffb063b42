using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Components;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.WeightSources;

/// <summary>
/// What <c>--weights fp8</c> costs on the tiny conformance models (CPU backend: exact dequantised fp32 math): the
/// relative L2 ‖fp8 − stored‖ / ‖stored‖ of one transformer forward on the golden inputs, and of the final latents of
/// a 28-step trajectory. The numbers are printed (the README quotes them) and bounded: fp8 must change the output —
/// the quantisation ran, more than bf16 weights do — and by no more than e4m3's 3-bit mantissa explains.
/// </summary>
public class Fp8WeightErrorTests(ITestOutputHelper output)
{
    private static readonly CpuBackend Cpu = new();

    public static TheoryData<string> Models => new() { "sd3_tiny", "flux_tiny", "lumina_next_tiny" };

    [GoldenTheory]
    [MemberData(nameof(Models))]
    public void Fp8_moves_one_forward_by_a_few_percent(string model)
    {
        var golden = GoldenTensors.Load(GoldenFiles.At(model, "inputs.safetensors"));
        string[] names = model switch
        {
            "sd3_tiny" => ["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep"],
            "flux_tiny" => ["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep", "img_ids", "txt_ids", "guidance"],
            _ => ["hidden_states", "timestep", "encoder_hidden_states", "encoder_mask"],
        };
        float[] Forward(WeightPrecision weights, string? variant = null)
        {
            var component = Load(model, weights, variant);
            var inputs = names.ToDictionary(n => n, n => Cpu.Upload(golden[n].Values, new Shape(golden[n].Shape)));
            return Cpu.Download(component.Forward.Forward(inputs)["sample"]);
        }
        float[] stored = Forward(WeightPrecision.AsStored);
        double error = RelativeL2(Forward(WeightPrecision.Fp8), stored);
        // For scale: the same forward with the checkpoint's bf16 variant (7 mantissa bits to e4m3's 3).
        double bf16 = RelativeL2(Forward(WeightPrecision.AsStored, "bf16"), stored);
        output.WriteLine($"{model} forward: relative L2 of fp8 vs stored (fp32) weights {error:E2}; bf16 weights {bf16:E2}");
        Assert.InRange(error, 2 * bf16, 0.12);
    }

    [GoldenTheory]
    [MemberData(nameof(Models))]
    public void Fp8_moves_a_28_step_trajectory_by_a_few_percent(string model)
    {
        float[] Final(WeightPrecision weights)
        {
            var (pipeline, inputs, settings) = Trajectory(model, weights);
            return Cpu.Download(pipeline.Denoise(inputs, settings, (_, _) => { }));
        }
        double error = RelativeL2(Final(WeightPrecision.Fp8), Final(WeightPrecision.AsStored));
        output.WriteLine($"{model} 28-step trajectory: relative L2 of the final latents, fp8 vs stored weights {error:E2}");
        Assert.InRange(error, 1e-4, 0.15);
    }

    private static LoadedComponent Load(string model, WeightPrecision weights, string? variant = null)
        => ComponentLoader.Load(ModelFolder.Open(GoldenFiles.At(model)).Component("transformer"), Cpu, variant, weights);

    /// <summary>The golden trajectory's embeddings and noise (SD3, FLUX), or the forward inputs as a one-prompt Lumina run.</summary>
    private static (IDenoisePipeline, Dictionary<string, Tensor>, DenoiseSettings) Trajectory(string model, WeightPrecision weights)
    {
        Tensor Up(GoldenTensor g) => Cpu.Upload(g.Values, new Shape(g.Shape));
        var component = Load(model, weights).Forward;
        var settings = new DenoiseSettings { Steps = 28, GuidanceScale = 1f, Height = 128, Width = 192, Scheduler = PipelineFactory.DefaultScheduler(component.ClassName) };
        if (model == "lumina_next_tiny")
        {
            var g = GoldenTensors.Load(GoldenFiles.At(model, "inputs.safetensors"));
            var inputs = new Dictionary<string, Tensor>
            {
                ["latents"] = Up(g["hidden_states"]), ["prompt_embeds"] = Up(g["encoder_hidden_states"]), ["prompt_attention_mask"] = Up(g["encoder_mask"]),
            };
            return (new LuminaPipeline(((LuminaTransformerComponent)component).Model), inputs, settings with { GuidanceScale = 1f });
        }
        var t = GoldenTensors.Load(GoldenFiles.At(model, "trajectory", "trajectory.safetensors"));
        var scheduler = FlowMatchEulerSchedulerConfig.From(JsonConfig.Load(GoldenFiles.At(model, "trajectory", "scheduler_config.json")));
        var named = new Dictionary<string, Tensor> { ["latents"] = Up(t["initial_latents"]), ["prompt_embeds"] = Up(t["prompt_embeds"]), ["pooled_prompt_embeds"] = Up(t["pooled_prompt_embeds"]) };
        if (model == "sd3_tiny")
        {
            named["negative_prompt_embeds"] = Up(t["negative_prompt_embeds"]);
            named["negative_pooled_prompt_embeds"] = Up(t["negative_pooled_prompt_embeds"]);
            return (new Sd3Pipeline(((Sd3TransformerComponent)component).Model), named, settings with { GuidanceScale = 7f, Scheduler = scheduler });
        }
        return (new FluxPipeline(((FluxTransformerComponent)component).Model), named, settings with { GuidanceScale = 3.5f, Scheduler = scheduler });
    }

    private static double RelativeL2(float[] actual, float[] reference)
    {
        Assert.Equal(reference.Length, actual.Length);
        double diff = 0, norm = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            diff += ((double)actual[i] - reference[i]) * ((double)actual[i] - reference[i]);
            norm += (double)reference[i] * reference[i];
        }
        return Math.Sqrt(diff / norm);
    }
}
