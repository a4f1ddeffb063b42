using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models.Flux;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Models;

/// <summary>FluxPipeline conventions and the packing helpers, for any weights and sizes (the diffusers trajectory is a conformance test).</summary>
public class FluxPipelineTests
{
    private readonly CpuBackend _cpu = new();

    private const string DevScheduler = """
        {"base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15,
         "num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": true}
        """;
    private const string SchnellScheduler = """
        {"base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15,
         "num_train_timesteps": 1000, "shift": 1.0, "use_dynamic_shifting": false}
        """;

    private static FlowMatchEulerSchedulerConfig Scheduler(string json) => FlowMatchEulerSchedulerConfig.From(JsonConfig.Parse("scheduler_config.json", json));

    /// <summary>A 32×48-pixel image: a 4×6 latent of 4 channels, packed into a 2×3 grid of 16-wide tokens.</summary>
    private Dictionary<string, Tensor> Inputs(int batch, bool negatives, int seed = 1)
    {
        var inputs = new Dictionary<string, Tensor>
        {
            ["prompt_embeds"] = _cpu.Upload(TestData.Random(batch * 3 * 12, seed), new Shape(batch, 3, 12)),
            ["pooled_prompt_embeds"] = _cpu.Upload(TestData.Random(batch * 10, seed + 1), new Shape(batch, 10)),
            ["latents"] = _cpu.Upload(TestData.Random(batch * 6 * 16, seed + 2), new Shape(batch, 6, 16)),
        };
        if (negatives)
        {
            inputs["negative_prompt_embeds"] = _cpu.Upload(TestData.Random(batch * 3 * 12, seed + 3), new Shape(batch, 3, 12));
            inputs["negative_pooled_prompt_embeds"] = _cpu.Upload(TestData.Random(batch * 10, seed + 4), new Shape(batch, 10));
        }
        return inputs;
    }

    private static DenoiseSettings Settings(string scheduler = DevScheduler, int steps = 3, GuidanceMode mode = GuidanceMode.Batched) => new()
    {
        Steps = steps, GuidanceScale = 3.5f, Scheduler = Scheduler(scheduler), Height = 32, Width = 48, GuidanceMode = mode,
    };

    [Fact]
    public void Schedule_uses_linspace_sigmas_shifted_by_mu_from_the_token_count()
    {
        var schedule = FluxPipeline.Schedule(4, 1024, Scheduler(DevScheduler));
        double mu = 0.5 + (1.15 - 0.5) * (1024 - 256) / (4096 - 256.0);
        float[] expected = [1f, 0.75f, 0.5f, 0.25f];
        for (int i = 0; i < 4; i++)
        {
            double s = expected[i];
            Assert.Equal(Math.Exp(mu) / (Math.Exp(mu) + (1 / s - 1)), schedule.Sigmas[i], 6);
            Assert.Equal(schedule.Sigmas[i] * 1000f, schedule.Timesteps[i]);
        }
        Assert.Equal(0f, schedule.Sigmas[4]);
    }

    [Fact]
    public void Schnell_schedule_is_the_unshifted_linspace()
    {
        var schedule = FluxPipeline.Schedule(4, 4096, Scheduler(SchnellScheduler));
        Assert.Equal([1f, 0.75f, 0.5f, 0.25f, 0f], schedule.Sigmas);
        Assert.Equal([1000f, 750f, 500f, 250f], schedule.Timesteps);
    }

    [Fact]
    public void Missing_shift_values_default_to_the_flux_pipeline_values()
    {
        var explicitValues = FluxPipeline.Schedule(5, 777, Scheduler(DevScheduler));
        var defaults = FluxPipeline.Schedule(5, 777, Scheduler("""{"use_dynamic_shifting": true}"""));
        Assert.Equal(explicitValues.Sigmas, defaults.Sigmas);
    }

    [Fact]
    public void One_step_is_the_euler_update_with_timestep_t_over_1000_and_the_guidance_scale()
    {
        var model = FluxTestModels.Model(_cpu);
        var inputs = Inputs(batch: 2, negatives: false);
        var settings = Settings(steps: 1);
        float[] final = _cpu.Download(new FluxPipeline(model).Denoise(inputs, settings));

        var schedule = FluxPipeline.Schedule(1, 6, settings.Scheduler);
        float sigma = schedule.Timesteps[0] / 1000f;
        Tensor v = model.Forward(inputs["latents"], inputs["prompt_embeds"], inputs["pooled_prompt_embeds"],
            _cpu.Upload([sigma, sigma], new Shape(2)), _cpu.Upload(FluxLatentPacking.LatentImageIds(2, 3), new Shape(6, 3)),
            _cpu.Zeros(new Shape(3, 3)), _cpu.Upload([3.5f, 3.5f], new Shape(2)));
        float[] x = _cpu.Download(inputs["latents"]), vd = _cpu.Download(v);
        float dt = schedule.Sigmas[1] - schedule.Sigmas[0];
        var expected = x.Select((xi, i) => xi + dt * vd[i]).ToArray();
        TestData.AssertClose(expected, final, 1e-6, "pipeline step vs manual Euler step");
    }

    [Fact]
    public void Input_latents_are_not_modified()
    {
        var inputs = Inputs(1, negatives: false);
        float[] before = _cpu.Download(inputs["latents"]);
        new FluxPipeline(FluxTestModels.Model(_cpu)).Denoise(inputs, Settings(steps: 2));
        Assert.Equal(before, _cpu.Download(inputs["latents"]));
    }

    [Fact]
    public void Schnell_model_samples_without_guidance_and_reports_every_step()
    {
        var pipeline = new FluxPipeline(FluxTestModels.Model(_cpu, guidance: false));
        int steps = 0;
        Tensor final = pipeline.Denoise(Inputs(1, negatives: false), Settings(SchnellScheduler, steps: 2), (_, _) => steps++);
        Assert.Equal(2, steps);
        Assert.Equal(new Shape(1, 6, 16), final.Shape);
    }

    [Fact]
    public void True_cfg_batched_equals_two_passes_and_differs_from_no_cfg()
    {
        var model = FluxTestModels.Model(_cpu);
        var inputs = Inputs(2, negatives: true);
        var pipeline = new FluxPipeline(model) { TrueCfgScale = 4f };
        float[] batched = _cpu.Download(pipeline.Denoise(inputs, Settings(mode: GuidanceMode.Batched)));
        float[] twoPass = _cpu.Download(pipeline.Denoise(inputs, Settings(mode: GuidanceMode.TwoPass)));
        TestData.AssertClose(twoPass, batched, 1e-5, "batched vs two-pass true CFG");
        float[] plain = _cpu.Download(new FluxPipeline(model).Denoise(inputs, Settings()));
        Assert.True(TestData.MaxAbsDiff(plain, batched) > 1e-3, "true CFG must change the result");
    }

    [Fact]
    public void True_cfg_combines_negative_and_positive_velocities()
    {
        var model = FluxTestModels.Model(_cpu);
        var inputs = Inputs(1, negatives: true);
        float[] cfg = _cpu.Download(new FluxPipeline(model) { TrueCfgScale = 2.5f }.Denoise(inputs, Settings(steps: 1)));
        // One step is linear in v: x + dt·(v_neg + s·(v_pos − v_neg)) = (1 − s)·x_neg + s·x_pos, with x_* the plain steps.
        float[] pos = _cpu.Download(new FluxPipeline(model).Denoise(inputs, Settings(steps: 1)));
        var negInputs = new Dictionary<string, Tensor>(inputs)
        {
            ["prompt_embeds"] = inputs["negative_prompt_embeds"],
            ["pooled_prompt_embeds"] = inputs["negative_pooled_prompt_embeds"],
        };
        float[] neg = _cpu.Download(new FluxPipeline(model).Denoise(negInputs, Settings(steps: 1)));
        var expected = pos.Select((p, i) => (1 - 2.5f) * neg[i] + 2.5f * p).ToArray();
        TestData.AssertClose(expected, cfg, 1e-5, "true CFG step");
    }

    [Fact]
    public void True_cfg_without_negative_embeddings_is_an_error_naming_them()
    {
        var pipeline = new FluxPipeline(FluxTestModels.Model(_cpu)) { TrueCfgScale = 3f };
        var ex = Assert.Throws<AccelAesException>(() => pipeline.Denoise(Inputs(1, negatives: false), Settings()));
        Assert.Contains("negative_prompt_embeds", ex.Message);
        Assert.Contains("true_cfg_scale", ex.Message);
    }

    [Fact]
    public void Image_size_is_required()
    {
        var pipeline = new FluxPipeline(FluxTestModels.Model(_cpu));
        var ex = Assert.Throws<AccelAesException>(() => pipeline.Denoise(Inputs(1, false), Settings() with { Height = null }));
        Assert.Contains("height", ex.Message);
    }

    [Theory]
    [InlineData(64, 48)]   // 4×3 = 12 tokens
    [InlineData(32, 64)]   // 2×4 = 8 tokens
    [InlineData(16, 16)]   // 1 token
    public void Latents_not_matching_the_image_size_are_refused(int height, int width)
    {
        var pipeline = new FluxPipeline(FluxTestModels.Model(_cpu));
        var ex = Assert.Throws<AccelAesException>(() => pipeline.Denoise(Inputs(1, false), Settings() with { Height = height, Width = width }));
        Assert.Contains("latents", ex.Message);
    }

    [Fact]
    public void Transposed_image_size_with_the_same_token_count_only_changes_the_image_ids()
    {
        // 48×32 pixels is a 3×2 grid: still 6 tokens, so the latents fit, but the rows and columns of the ids differ.
        var pipeline = new FluxPipeline(FluxTestModels.Model(_cpu));
        float[] wide = _cpu.Download(pipeline.Denoise(Inputs(1, false), Settings(steps: 1)));
        float[] tall = _cpu.Download(pipeline.Denoise(Inputs(1, false), Settings(steps: 1) with { Height = 48, Width = 32 }));
        Assert.True(TestData.MaxAbsDiff(wide, tall) > 1e-4);
    }

    [Fact]
    public void Unknown_input_names_are_refused()
    {
        var inputs = Inputs(1, false);
        inputs["guidance"] = _cpu.Zeros(new Shape(1));
        var ex = Assert.Throws<AccelAesException>(() => new FluxPipeline(FluxTestModels.Model(_cpu)).Denoise(inputs, Settings()));
        Assert.Contains("'guidance'", ex.Message);
    }

    [Fact]
    public void A_transformer_whose_output_is_not_a_latent_token_cannot_sample()
    {
        var config = FluxTestModels.Config(true) with { OutChannels = 4 };
        var model = new FluxTransformer2DModel(new Weights.WeightReader(new Weights.RandomWeightSource(1), _cpu), config);
        var ex = Assert.Throws<AccelAesException>(() => new FluxPipeline(model).Denoise(Inputs(1, false), Settings()));
        Assert.Contains("out_channels", ex.Message);
    }

    [Theory]
    [InlineData("flux", true)]
    [InlineData("flux-schnell", false)]
    public void Tiny_flux_folders_load_and_sample_with_their_own_scheduler(string arch, bool guidance)
    {
        using var dir = new TempDirectory();
        Engine.Tiny.TinyModels.Write(arch, dir.Path, seed: 2);
        var folder = ModelFolder.Open(dir.Path);
        Assert.Equal("FluxPipeline", folder.PipelineClass);
        var model = ((Components.FluxTransformerComponent)Components.ComponentLoader.Load(folder.Component("transformer"), _cpu).Forward).Model;
        Assert.Equal(guidance, model.Config.GuidanceEmbeds);
        var scheduler = FlowMatchEulerSchedulerConfig.From(JsonConfig.Load(Path.Combine(dir.Path, "scheduler", "scheduler_config.json")));
        Assert.Equal(guidance, scheduler.UseDynamicShifting);
        var c = model.Config;
        var inputs = new Dictionary<string, Tensor>
        {
            ["prompt_embeds"] = _cpu.Upload(TestData.Random(5 * c.JointAttentionDim, 1), new Shape(1, 5, c.JointAttentionDim)),
            ["pooled_prompt_embeds"] = _cpu.Upload(TestData.Random(c.PooledProjectionDim, 2), new Shape(1, c.PooledProjectionDim)),
            // A 32×48-pixel image of 16 latent channels: 4×6 latent, packed 2×3 tokens of 64 features.
            ["latents"] = FluxLatentPacking.Pack(_cpu.Upload(TestData.Random(16 * 4 * 6, 3), new Shape(1, 16, 4, 6))),
        };
        var settings = new DenoiseSettings { Steps = 2, GuidanceScale = 3.5f, Scheduler = scheduler, Height = 32, Width = 48 };
        Tensor final = new FluxPipeline(model).Denoise(inputs, settings);
        Tensor unpacked = FluxLatentPacking.UnpackFromImageSize(final, 32, 48);
        Assert.Equal(new Shape(1, 16, 4, 6), unpacked.Shape);
        Assert.All(_cpu.Download(unpacked), v => Assert.True(float.IsFinite(v)));
    }

    [Theory]
    [InlineData(1, 16, 4, 6)]
    [InlineData(2, 3, 2, 10)]
    [InlineData(1, 16, 6, 2)]
    public void Pack_and_unpack_are_inverse_with_c_ph_pw_features(int batch, int channels, int height, int width)
    {
        float[] values = TestData.Random(batch * channels * height * width, 4);
        Tensor latents = _cpu.Upload(values, new Shape(batch, channels, height, width));
        Tensor packed = FluxLatentPacking.Pack(latents);
        Assert.Equal(new Shape(batch, height / 2 * (width / 2), 4 * channels), packed.Shape);
        float[] p = _cpu.Download(packed);
        // Token (r, c), feature (ch, ph, pw) = latent[ch, 2r + ph, 2c + pw] (pipeline _pack_latents).
        int gw = width / 2;
        for (int b = 0; b < batch; b++)
            for (int r = 0; r < height / 2; r++)
                for (int c = 0; c < gw; c++)
                    for (int ch = 0; ch < channels; ch++)
                        for (int ph = 0; ph < 2; ph++)
                            for (int pw = 0; pw < 2; pw++)
                            {
                                float want = values[((b * channels + ch) * height + 2 * r + ph) * width + 2 * c + pw];
                                float got = p[((b * (height / 2) + r) * gw + c) * 4 * channels + (ch * 2 + ph) * 2 + pw];
                                Assert.Equal(want, got);
                            }
        Assert.Equal(values, _cpu.Download(FluxLatentPacking.Unpack(packed, height, width)));
    }

    [Fact]
    public void Odd_latent_sizes_cannot_be_packed()
    {
        var ex = Assert.Throws<Engine.Models.ModelInputException>(() => FluxLatentPacking.Pack(_cpu.Zeros(new Shape(1, 16, 5, 4))));
        Assert.Equal("latents", ex.Argument);
    }

    [Fact]
    public void Image_size_rounds_down_to_whole_tokens_as_diffusers_does()
    {
        Assert.Equal((64, 64), FluxLatentPacking.TokenGrid(1024, 1024));
        Assert.Equal((8, 12), FluxLatentPacking.TokenGrid(128, 192));
        Assert.Equal((8, 12), FluxLatentPacking.TokenGrid(140, 200));
    }

    [Fact]
    public void Image_ids_are_row_major_zero_row_column_triples()
    {
        float[] ids = FluxLatentPacking.LatentImageIds(2, 3);
        Assert.Equal([0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 1, 0, 0, 1, 1, 0, 1, 2], ids);
    }
}
