using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Models;

/// <summary>
/// LuminaPipeline's conventions. No diffusers trajectory golden exists for Lumina, so the loop is checked against
/// the pipeline_lumina.py algorithm composed here by hand on host arrays (only the transformer forward is shared):
/// set_timesteps(N) without sigmas or μ; model time 1 − t/1000; RoPE factors from that time and the image size;
/// batch [cond, uncond]; out[:, :4]; guidance on channels 0..2 (channel 3 = cond); negate; Euler step.
/// </summary>
public class LuminaPipelineTests
{
    private const int Batch = 2, Channels = 4, Height = 6, Width = 10, Length = 5;

    private readonly CpuBackend _cpu = new();

    private static readonly LuminaNextDiTConfig Config = new()
    {
        SampleSize = 16, PatchSize = 2, InChannels = Channels, HiddenSize = 32, NumLayers = 2, NumAttentionHeads = 4, NumKvHeads = 2,
        MultipleOf = 16, LearnSigma = true, QkNorm = true, CrossAttentionDim = 12,
    };

    private static FlowMatchEulerSchedulerConfig Scheduler(bool dynamic = false) => FlowMatchEulerSchedulerConfig.From(JsonConfig.Parse("scheduler_config.json",
        dynamic ? """{"shift": 1.0, "use_dynamic_shifting": true}""" : """{"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 1.0}"""));

    private LuminaNextDiT2DModel Model() => new(new WeightReader(new RandomWeightSource(21), _cpu), Config);

    private sealed record Inputs(float[] Latents, float[] Prompt, float[] PromptMask, float[] Negative, float[] NegativeMask);

    private static Inputs MakeInputs()
    {
        float[] mask = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
        float[] negativeMask = [1, 0, 0, 0, 0, 1, 1, 0, 0, 0];
        return new Inputs(TestData.Random(Batch * Channels * Height * Width, 31, -2f, 2f),
            TestData.Random(Batch * Length * 12, 32), mask, TestData.Random(Batch * Length * 12, 33), negativeMask);
    }

    private Dictionary<string, Tensor> Named(Inputs x, bool withNegative = true)
    {
        var named = new Dictionary<string, Tensor>
        {
            ["latents"] = _cpu.Upload(x.Latents, new Shape(Batch, Channels, Height, Width)),
            ["prompt_embeds"] = _cpu.Upload(x.Prompt, new Shape(Batch, Length, 12)),
            ["prompt_attention_mask"] = _cpu.Upload(x.PromptMask, new Shape(Batch, Length)),
        };
        if (withNegative)
        {
            named["negative_prompt_embeds"] = _cpu.Upload(x.Negative, new Shape(Batch, Length, 12));
            named["negative_prompt_attention_mask"] = _cpu.Upload(x.NegativeMask, new Shape(Batch, Length));
        }
        return named;
    }

    private static DenoiseSettings Settings(int steps, float guidance, GuidanceMode mode = GuidanceMode.Batched) => new()
    {
        Steps = steps, GuidanceScale = guidance, Scheduler = Scheduler(), GuidanceMode = mode, Height = Height * 8, Width = Width * 8,
    };

    [Theory]
    [InlineData(false, 1.0, 4f)]  // the pipeline's defaults
    [InlineData(true, 1.0, 4f)]   // guide all four channels
    [InlineData(false, 0.4, 4f)]  // a watershed inside the run: NTK RoPE scaling from model time 0.4 on
    [InlineData(false, 1.0, 1f)]  // guidance off: v = −cond only
    public void Trajectory_matches_the_pipeline_algorithm_composed_by_hand(bool guideAll, double watershed, float guidance)
    {
        const int steps = 3;
        var model = Model();
        var x = MakeInputs();
        var options = new LuminaPipelineOptions { GuideAllChannels = guideAll, ScalingWatershed = watershed };
        var recorded = new List<float[]>();
        new LuminaPipeline(model, options).Denoise(Named(x, withNegative: guidance > 1), Settings(steps, guidance),
            (i, latents) => recorded.Add(_cpu.Download(latents)));

        // retrieve_timesteps(scheduler, N, sigmas=None): σ = linspace(1000·σ_max, 1000·σ_min, N)/1000 with shift 1,
        // σ_max = 1, σ_min = 1/1000; timesteps = σ·1000 in float32; a terminal σ = 0.
        var sigmas = new float[steps + 1];
        for (int i = 0; i < steps; i++) sigmas[i] = (float)((1000.0 + i * (1.0 - 1000.0) / (steps - 1)) / 1000.0);
        float[] latent = (float[])x.Latents.Clone();
        int plane = Height * Width, item = Channels * plane;
        double scalingFactor = Math.Sqrt(Width * 8.0 * Height * 8.0 / (128.0 * 128.0)); // default_image_size = 16·8
        bool cfg = guidance > 1;
        int forwardBatch = cfg ? 2 * Batch : Batch;
        for (int i = 0; i < steps; i++)
        {
            float t = sigmas[i] * 1000f;
            float modelTime = 1f - t / 1000f;
            bool linear = modelTime < watershed;
            var table = LuminaRotaryTable.Create(Config.HeadDim, Height / 2, Width / 2,
                linear ? scalingFactor : 1.0, linear ? 1.0 : scalingFactor);
            float[] hidden = cfg ? [.. latent, .. latent] : latent;
            float[] embeds = cfg ? [.. x.Prompt, .. x.Negative] : x.Prompt;  // [cond, uncond]
            float[] masks = cfg ? [.. x.PromptMask, .. x.NegativeMask] : x.PromptMask;
            float[] out8 = _cpu.Download(model.Forward(
                _cpu.Upload(hidden, new Shape(forwardBatch, Channels, Height, Width)),
                _cpu.Upload(Enumerable.Repeat(modelTime, forwardBatch).ToArray(), new Shape(forwardBatch)),
                _cpu.Upload(embeds, new Shape(forwardBatch, Length, 12)),
                _cpu.Upload(masks, new Shape(forwardBatch, Length)),
                table, baseSequenceLength: 64));
            float dt = sigmas[i + 1] - sigmas[i];
            for (int b = 0; b < Batch; b++)
                for (int ch = 0; ch < Channels; ch++)
                    for (int k = 0; k < plane; k++)
                    {
                        // out[:, :4] of the 8 learn_sigma channels
                        float c = out8[(b * 2 * Channels + ch) * plane + k];
                        float v = c;
                        if (cfg && (guideAll || ch < 3))
                        {
                            float u = out8[((Batch + b) * 2 * Channels + ch) * plane + k];
                            v = u + guidance * (c - u);
                        }
                        latent[b * item + ch * plane + k] += dt * -v;
                    }
            TestData.AssertClose(latent, recorded[i], 1e-5, $"step {i}");
        }
        Assert.Equal(steps, recorded.Count);
    }

    [Fact]
    public void Channel_three_keeps_the_conditional_prediction_unless_all_channels_are_guided()
    {
        var model = Model();
        var x = MakeInputs();
        float[] Step(bool guideAll, float guidance) =>
            _cpu.Download(new LuminaPipeline(model, new LuminaPipelineOptions { GuideAllChannels = guideAll })
                .Denoise(Named(x, withNegative: guidance > 1), Settings(1, guidance)));
        float[] threeChannels = Step(false, 5f), allChannels = Step(true, 5f), unguided = Step(false, 1f);
        int plane = Height * Width;
        for (int b = 0; b < Batch; b++)
        {
            var ch3 = new Range(b * Channels * plane + 3 * plane, (b + 1) * Channels * plane);
            var ch012 = new Range(b * Channels * plane, b * Channels * plane + 3 * plane);
            Assert.Equal(unguided[ch3], threeChannels[ch3]);
            Assert.Equal(threeChannels[ch012], allChannels[ch012]);
            Assert.True(TestData.MaxAbsDiff(unguided[ch3], allChannels[ch3]) > 1e-4);
            Assert.True(TestData.MaxAbsDiff(unguided[ch012], threeChannels[ch012]) > 1e-4);
        }
    }

    [Fact]
    public void Two_pass_guidance_equals_the_batched_one()
    {
        var model = Model();
        var x = MakeInputs();
        float[] batched = _cpu.Download(new LuminaPipeline(model).Denoise(Named(x), Settings(2, 4f, GuidanceMode.Batched)));
        float[] twoPass = _cpu.Download(new LuminaPipeline(model).Denoise(Named(x), Settings(2, 4f, GuidanceMode.TwoPass)));
        TestData.AssertClose(batched, twoPass, 1e-5, "TwoPass vs Batched");
    }

    [Fact]
    public void Lumina_Next_SFT_schedule_is_linspace_1_to_0_001()
    {
        var schedule = new FlowMatchEulerScheduler(FlowMatchEulerSchedulerConfig.From(
            JsonConfig.Parse("scheduler_config.json", AccelAes.Engine.Tiny.TinyModels.Get("lumina-next").SchedulerConfigJson!))).SetTimesteps(30);
        Assert.Equal(1000f, schedule.Timesteps[0]);
        Assert.Equal(965.55, schedule.Timesteps[1], 2);
        Assert.Equal(35.45, schedule.Timesteps[^2], 2);
        Assert.Equal(1f, schedule.Timesteps[^1], 4);
        Assert.Equal(0f, schedule.Sigmas[^1]);
        Assert.Equal(0f, LuminaDenoiser.ModelTimestep(schedule.Timesteps[0], 1000));
        Assert.True(LuminaDenoiser.ModelTimestep(schedule.Timesteps[^1], 1000) < 1f); // so the linear RoPE branch always runs
    }

    [Fact]
    public void Guidance_without_negative_embeddings_is_refused()
    {
        var ex = Assert.Throws<AccelAesException>(() => new LuminaPipeline(Model()).Denoise(Named(MakeInputs(), withNegative: false), Settings(1, 4f)));
        Assert.Contains("negative_prompt_embeds", ex.Message);
    }

    [Fact]
    public void Mismatched_negative_shape_height_and_masks_are_refused_by_name()
    {
        var pipeline = new LuminaPipeline(Model());
        var x = MakeInputs();

        var named = Named(x);
        named["negative_prompt_embeds"] = _cpu.Zeros(new Shape(Batch, Length + 1, 12));
        Assert.Contains("negative_prompt_embeds", Assert.ThrowsAny<AccelAesException>(() => pipeline.Denoise(named, Settings(1, 4f))).Message);

        Assert.Contains("--height", Assert.Throws<AccelAesException>(() =>
            pipeline.Denoise(Named(x), Settings(1, 4f) with { Height = 64 })).Message);

        named = Named(x);
        named["prompt_attention_mask"] = _cpu.Upload(new float[Batch * Length], new Shape(Batch, Length));
        Assert.Equal("prompt_attention_mask", Assert.Throws<ModelInputException>(() => pipeline.Denoise(named, Settings(1, 4f))).Argument);

        named = Named(x);
        named["latents"] = _cpu.Zeros(new Shape(Batch, Channels, Height, Width + 1));
        Assert.Equal("latents", Assert.Throws<ModelInputException>(() => pipeline.Denoise(named, Settings(1, 4f))).Argument);

        named = Named(x);
        named["prompt_embeds"] = _cpu.Zeros(new Shape(Batch + 1, Length, 12));
        Assert.Equal("prompt_embeds", Assert.Throws<ModelInputException>(() => pipeline.Denoise(named, Settings(1, 4f))).Argument);
    }

    [Fact]
    public void Dynamic_shifting_schedulers_fail_as_in_diffusers_because_the_pipeline_passes_no_mu()
    {
        var settings = Settings(1, 4f) with { Scheduler = Scheduler(dynamic: true) };
        var ex = Assert.Throws<AccelAesException>(() => new LuminaPipeline(Model()).Denoise(Named(MakeInputs()), settings));
        Assert.Contains("mu", ex.Message);
    }
}
