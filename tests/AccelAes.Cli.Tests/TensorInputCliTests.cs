using System.Text.Json.Nodes;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli.Tests;

/// <summary>
/// Named input tensors as users save them (issue 14 classes 4 and 10): integer and boolean tensors where the model
/// computes in floats are converted exactly (the output equals the float input's), values that would not convert are
/// refused naming the tensor and element, and shape or config errors name what the user passed — never exit 70.
/// </summary>
public class TensorInputCliTests(CliCache cache) : IClassFixture<CliCache>
{
    // The tiny models' sizes (make-tiny): SD3 in_channels 16, joint_attention_dim and pooled_projection_dim 64;
    // Lumina-Next in_channels 4, cross_attention_dim 32; the 16-channel VAE latent_channels 16.
    private static readonly float[] Noise = Enumerable.Range(0, 4096).Select(i => MathF.Sin(i * 0.37f) * 1.3f).ToArray();

    private sealed class Inputs
    {
        private readonly SafeTensorsWriter _writer = new();

        public Inputs Floats(string name, long[] shape, Func<int, float>? value = null)
        {
            int n = (int)shape.Aggregate(1L, (a, d) => a * d);
            _writer.Add(name, shape, Enumerable.Range(0, n).Select(i => value?.Invoke(i) ?? Noise[i % Noise.Length]).ToArray());
            return this;
        }

        public Inputs Int64(string name, long[] shape, params long[] values)
        {
            _writer.Add(name, SafeTensorDType.I64, shape, values.SelectMany(BitConverter.GetBytes).ToArray());
            return this;
        }

        /// <summary>A U64 tensor of 2^64 − 1 everywhere (past what int64 holds).</summary>
        public Inputs UInt64Max(string name, long[] shape)
        {
            int n = (int)shape.Aggregate(1L, (x, d) => x * d);
            _writer.Add(name, SafeTensorDType.U64, shape, Enumerable.Repeat((byte)0xFF, 8 * n).ToArray());
            return this;
        }

        public Inputs Int32(string name, long[] shape, params int[] values)
        {
            _writer.Add(name, SafeTensorDType.I32, shape, values.SelectMany(BitConverter.GetBytes).ToArray());
            return this;
        }

        public Inputs Bool(string name, long[] shape, params bool[] values)
        {
            _writer.Add(name, SafeTensorDType.Bool, shape, values.Select(v => (byte)(v ? 1 : 0)).ToArray());
            return this;
        }

        public string Save(TempDirectory dir, string name)
        {
            string path = dir.File(name);
            _writer.Save(path);
            return path;
        }
    }

    private static Inputs Sd3Conditioning(int batch = 1) => new Inputs()
        .Floats("encoder_hidden_states", [batch, 5, 64])
        .Floats("pooled_projections", [batch, 64]);

    private static float[] Output(string path, string name) => GoldenTensors.Load(path)[name].Values;

    private CliRunner.Result Forward(string model, string inputs, string output, string component = "transformer")
        => cache.Run("forward", "--model", model, "--component", component, "--inputs", inputs, "--out", output);

    /// <summary>Runs the forward on both input files and asserts both succeed with the same <c>sample</c>, to the bit.</summary>
    private void AssertSameSample(string model, string expectedInputs, string actualInputs, TempDirectory dir, string component = "transformer")
    {
        var a = Forward(model, expectedInputs, dir.File("a.safetensors"), component);
        var b = Forward(model, actualInputs, dir.File("b.safetensors"), component);
        Assert.True(a.ExitCode == 0, a.All);
        Assert.True(b.ExitCode == 0, b.All);
        Assert.Equal(Output(dir.File("a.safetensors"), "sample"), Output(dir.File("b.safetensors"), "sample"));
    }

    private static void AssertRefused(CliRunner.Result r, params string[] fragments)
    {
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}: {r.All}");
        string all = CliCache.Flat(r.All);
        Assert.DoesNotContain("internal error", all);
        foreach (string f in fragments) Assert.Contains(f, all);
    }

    [Fact]
    public void An_int64_timestep_gives_the_output_of_the_float_timestep()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        string f32 = Sd3Conditioning().Floats("hidden_states", [1, 16, 8, 8]).Floats("timestep", [1], _ => 500f).Save(dir, "f32.safetensors");
        string i64 = Sd3Conditioning().Floats("hidden_states", [1, 16, 8, 8]).Int64("timestep", [1], 500).Save(dir, "i64.safetensors");

        AssertSameSample(model, f32, i64, dir);
    }

    [Fact]
    public void An_integer_beyond_2_to_the_24_is_refused_naming_the_tensor_element_and_value()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        string inputs = Sd3Conditioning().Floats("hidden_states", [1, 16, 8, 8]).Int64("timestep", [1], (1 << 24) + 1).Save(dir, "big.safetensors");

        AssertRefused(Forward(model, inputs, dir.File("o.safetensors")), "'timestep'", "16777217", "at [0]", "2^24");
        Assert.False(File.Exists(dir.File("o.safetensors")));
    }

    [Fact]
    public void A_uint64_beyond_int64_is_refused_naming_the_tensor()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        string inputs = Sd3Conditioning().Floats("hidden_states", [1, 16, 8, 8]).UInt64Max("timestep", [1]).Save(dir, "u64.safetensors");

        AssertRefused(Forward(model, inputs, dir.File("o.safetensors")), "'timestep'", "U64", "2^63");
    }

    [Fact]
    public void Bool_and_int64_lumina_encoder_masks_give_the_output_of_the_float_mask()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("lumina-next", dir);
        Inputs Common() => new Inputs().Floats("hidden_states", [1, 4, 8, 8]).Floats("timestep", [1], _ => 0.5f)
            .Floats("encoder_hidden_states", [1, 6, 32]);
        bool[] real = [true, true, true, true, false, false];
        var outputs = new List<float[]>();
        foreach (var (name, inputs) in new[]
                 {
                     ("f32", Common().Floats("encoder_mask", [1, 6], i => real[i] ? 1f : 0f)),
                     ("i64", Common().Int64("encoder_mask", [1, 6], real.Select(v => v ? 1L : 0L).ToArray())),
                     ("bool", Common().Bool("encoder_mask", [1, 6], real)),
                 })
        {
            string output = dir.File($"{name}.out.safetensors");
            var r = Forward(model, inputs.Save(dir, $"{name}.safetensors"), output);
            Assert.True(r.ExitCode == 0, $"{name}: {r.All}");
            outputs.Add(Output(output, "sample"));
        }
        Assert.Equal(outputs[0], outputs[1]);
        Assert.Equal(outputs[0], outputs[2]);
    }

    [Fact]
    public void An_int64_vae_z_gives_the_output_of_the_float_z()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("vae16", dir);
        long[] shape = [1, 16, 4, 4];
        string f32 = new Inputs().Floats("z", shape, i => i % 5 - 2).Save(dir, "f32.safetensors");
        string i64 = new Inputs().Int64("z", shape, Enumerable.Range(0, 256).Select(i => (long)(i % 5 - 2)).ToArray()).Save(dir, "i64.safetensors");

        AssertSameSample(model, f32, i64, dir, component: ".");
    }

    [Fact]
    public void Int32_latents_denoise_as_the_float_latents()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        Inputs Prompts() => new Inputs().Floats("prompt_embeds", [1, 5, 64]).Floats("pooled_prompt_embeds", [1, 64])
            .Floats("negative_prompt_embeds", [1, 5, 64], i => Noise[(i + 7) % Noise.Length]).Floats("negative_pooled_prompt_embeds", [1, 64]);
        int[] latents = Enumerable.Range(0, 1024).Select(i => i % 7 - 3).ToArray();
        string f32 = Prompts().Floats("latents", [1, 16, 8, 8], i => latents[i]).Save(dir, "f32.safetensors");
        string i32 = Prompts().Int32("latents", [1, 16, 8, 8], latents).Save(dir, "i32.safetensors");

        foreach (var (inputs, output) in new[] { (f32, "a.safetensors"), (i32, "b.safetensors") })
        {
            var r = cache.Run("denoise", "--model", model, "--inputs", inputs, "--steps", "2", "--guidance", "5", "--out", dir.File(output));
            Assert.True(r.ExitCode == 0, r.All);
        }
        var a = GoldenTensors.Load(dir.File("a.safetensors"));
        var b = GoldenTensors.Load(dir.File("b.safetensors"));
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (string name in a.Keys) Assert.Equal(a[name].Values, b[name].Values);
    }

    [Fact]
    public void Float_token_ids_that_are_not_whole_numbers_are_refused_naming_input_ids()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        string inputs = new Inputs().Floats("input_ids", [1, 4], i => i == 2 ? 3.5f : i + 1).Save(dir, "ids.safetensors");

        AssertRefused(Forward(model, inputs, dir.File("o.safetensors"), component: "text_encoder"), "'input_ids'", "3.5", "[0, 2]", "whole numbers");
    }

    [Fact]
    public void A_3d_hidden_states_is_named_not_blamed_on_the_timestep()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        // The batch dimension dropped: [C, H, W]. Read as [B, …] it made a batch of 16 that the timestep [2] did not fit.
        string inputs = Sd3Conditioning(2).Floats("hidden_states", [16, 8, 8]).Floats("timestep", [2], _ => 500f).Save(dir, "3d.safetensors");

        var r = Forward(model, inputs, dir.File("o.safetensors"));
        AssertRefused(r, "'hidden_states'", "[16, 8, 8]", "[B, 16, H, W]");
        Assert.DoesNotContain("'timestep'", CliCache.Flat(r.All));
    }

    [Fact]
    public void A_huge_dimension_in_an_inputs_file_is_refused_naming_the_tensor()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        // Zero elements, so the byte count checks out; the 3·10⁹ dimension is still more than a tensor may hold.
        string inputs = Sd3Conditioning().Floats("hidden_states", [1, 16, 0, 3_000_000_000]).Floats("timestep", [1], _ => 500f).Save(dir, "huge.safetensors");

        AssertRefused(Forward(model, inputs, dir.File("o.safetensors")), "'hidden_states'", "3000000000");
    }

    [Fact]
    public void A_denoise_batch_mismatch_names_the_users_tensors_not_the_cfg_batch()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        string inputs = new Inputs().Floats("prompt_embeds", [2, 5, 64]).Floats("pooled_prompt_embeds", [2, 64])
            .Floats("negative_prompt_embeds", [2, 5, 64]).Floats("negative_pooled_prompt_embeds", [2, 64])
            .Floats("latents", [1, 16, 8, 8]).Save(dir, "batch.safetensors");

        var r = cache.Run("denoise", "--model", model, "--inputs", inputs, "--steps", "2", "--guidance", "5", "--out", dir.File("o.safetensors"));
        AssertRefused(r, "Input 'prompt_embeds'", "shape [2, 5, 64]", "B = 1 as in 'latents' [1, 16, 8, 8]");
        Assert.DoesNotContain("encoder_hidden_states", CliCache.Flat(r.All));
    }

    [Theory]
    [InlineData("shift", "1e30")]
    [InlineData("shift", "1e-9")]
    [InlineData("shift_terminal", "1.0")]
    [InlineData("shift_terminal", "-0.5")]
    [InlineData("max_shift", "1e30")]
    public void An_extreme_scheduler_shift_is_refused_naming_the_file_and_field(string field, string value)
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(model, "scheduler", "scheduler_config.json")))!.AsObject();
        config[field] = JsonNode.Parse(value);
        string scheduler = dir.File("scheduler_config.json");
        File.WriteAllText(scheduler, config.ToJsonString());
        string inputs = new Inputs().Floats("prompt_embeds", [1, 5, 64]).Floats("pooled_prompt_embeds", [1, 64])
            .Floats("latents", [1, 16, 8, 8]).Save(dir, "in.safetensors");

        var r = cache.Run("denoise", "--model", model, "--inputs", inputs, "--steps", "2", "--guidance", "1",
            "--scheduler", scheduler, "--out", dir.File("o.safetensors"));
        AssertRefused(r, scheduler, $"field '{field}'", "must lie");
        Assert.DoesNotContain("non-finite", CliCache.Flat(r.All));
    }

    [Theory]
    [InlineData("scaling_factor", "1e-30")]
    [InlineData("scaling_factor", "1e30")]
    [InlineData("shift_factor", "1e30")]
    public void An_extreme_vae_scaling_factor_is_refused_naming_the_file_and_field(string field, string value)
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("vae16", dir);
        string configPath = Path.Combine(model, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config[field] = JsonNode.Parse(value);
        File.WriteAllText(configPath, config.ToJsonString());
        string inputs = new Inputs().Floats("z", [1, 16, 4, 4]).Save(dir, "z.safetensors");

        AssertRefused(Forward(model, inputs, dir.File("o.safetensors"), component: "."), "config.json", $"field '{field}'", "magnitude must");
    }
}
