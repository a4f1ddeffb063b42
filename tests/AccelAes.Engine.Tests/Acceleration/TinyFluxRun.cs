using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models.Flux;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>
/// A random-weight FLUX transformer (3 double + 2 single blocks, D = 16) and FluxPipeline inputs for a 128×128 image
/// (an 8×8 token grid), to run the caching policies end to end on the CPU.
/// </summary>
internal sealed class TinyFluxRun
{
    public const int Grid = 8, Tokens = Grid * Grid, TextTokens = 5;

    public CpuBackend Cpu { get; } = new();

    public FluxTransformer2DModel Model { get; }

    public TinyFluxRun(int weightSeed = 41)
    {
        var config = new FluxTransformerConfig
        {
            InChannels = 16, OutChannels = 16, NumLayers = 3, NumSingleLayers = 2, AttentionHeadDim = 8, NumAttentionHeads = 2,
            JointAttentionDim = 12, PooledProjectionDim = 10, GuidanceEmbeds = true, AxesDimsRope = [2, 2, 4],
        };
        Model = new FluxTransformer2DModel(new WeightReader(new RandomWeightSource(weightSeed), Cpu), config);
    }

    public static FlowMatchEulerSchedulerConfig Scheduler() => new() { Shift = 3.0, UseDynamicShifting = true };

    public Dictionary<string, Tensor> Inputs(int batch = 1) => new()
    {
        ["prompt_embeds"] = Cpu.Upload(TestData.Random(batch * TextTokens * 12, 51), new Shape(batch, TextTokens, 12)),
        ["pooled_prompt_embeds"] = Cpu.Upload(TestData.Random(batch * 10, 52), new Shape(batch, 10)),
        ["latents"] = Cpu.Upload(TestData.Random(batch * Tokens * 16, 53), new Shape(batch, Tokens, 16)),
    };

    /// <summary>Final latents of FluxPipeline with <paramref name="preset"/> and overrides (null preset: dense), and the run report.</summary>
    public (float[] Latents, AcceleratedRunReport? Report) Denoise(int steps, string? preset, params string[] overrides)
    {
        AcceleratedRunReport? report = null;
        var settings = new DenoiseSettings
        {
            Steps = steps, GuidanceScale = 3.5f, Scheduler = Scheduler(), Height = 128, Width = 128,
            Acceleration = preset is null ? null : AccelerationRequest.Parse(preset, overrides).Resolve(Backbone.Flux, steps, 3.5),
            OnAccelerationReport = r => report = r,
        };
        float[] latents = Cpu.Download(new FluxPipeline(Model).Denoise(Inputs(), settings));
        return (latents, report);
    }

    /// <summary>One step's split forward at σ = <paramref name="sigma"/> for the pipeline's latents (the policies' input).</summary>
    public ISplitForward Embed(float sigma)
    {
        var x = Inputs();
        FluxRotaryTable rope = FluxLatentPacking.RotaryTable(Model, Cpu, TextTokens, Grid, Grid);
        var embedded = Model.Embed(x["latents"], x["prompt_embeds"], x["pooled_prompt_embeds"],
            Cpu.Upload([sigma], new Shape(1)), Cpu.Upload([3.5f], new Shape(1)), rope);
        return new FluxSplitForward(Model, embedded, rope);
    }
}
