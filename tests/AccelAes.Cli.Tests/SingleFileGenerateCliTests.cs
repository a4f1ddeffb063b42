namespace AccelAes.Cli.Tests;

/// <summary>
/// `generate --model FILE --components DIR`, `forward --component`, `inspect` on single files written from the tiny
/// pipelines by the test-side writers (SAI SD3 / SD3.5: <see cref="SaiSd3FileWriter"/>; BFL FLUX.1:
/// <see cref="BflFluxFileWriter"/>): the file composed with its folder gives the folder's image bit for bit on the CPU.
/// </summary>
public class SingleFileGenerateCliTests(CliCache cache) : IClassFixture<CliCache>
{
    private static readonly string[] Settings = ["--prompt", "a red cube", "--seed", "3", "--steps", "2", "--width", "32", "--height", "48"];

    private byte[] Generate(TempDirectory dir, string name, params string[] model)
    {
        string image = dir.File(name + ".png");
        var r = cache.Run(["generate", .. model, "--out", image, .. Settings]);
        Assert.True(r.ExitCode == 0, r.All);
        return GenerateCliTests.Decode(image).Rgb;
    }

    [Theory]
    [InlineData("sd3")]
    [InlineData("sd35")]
    public void Sd3_file_with_components_generates_the_folder_image(string arch)
    {
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny(arch, dir);
        string file = dir.File($"{arch}.safetensors");
        SaiSd3FileWriter.Write(folder, file, vae: true);
        byte[] expected = Generate(dir, "folder", "--model", folder);
        Assert.Equal(expected, Generate(dir, "file", "--model", file, "--components", folder));
        // The file's weights are what run, not the folder's: another seed's model in the file changes the image.
        string other = dir.File("other");
        var made = cache.Run("make-tiny", "--arch", arch, "--seed", "9", "--out", other);
        Assert.True(made.ExitCode == 0, made.All);
        string otherFile = dir.File("other.safetensors");
        SaiSd3FileWriter.Write(other, otherFile, vae: true);
        Assert.NotEqual(expected, Generate(dir, "other", "--model", otherFile, "--components", folder));
    }

    [Fact]
    public void Flux_file_with_components_generates_the_folder_image()
    {
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny("flux", dir);
        string file = dir.File("flux1-tiny.safetensors");
        BflFluxFileWriter.Write(Path.Combine(folder, "transformer"), file);
        byte[] expected = Generate(dir, "folder", "--model", folder);
        Assert.Equal(expected, Generate(dir, "file", "--model", file, "--components", folder));
    }

    [Fact]
    public void Transformer_config_comes_from_config_over_components()
    {
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny("sd3", dir);
        string file = dir.File("sd3.safetensors");
        SaiSd3FileWriter.Write(folder, file, vae: true);
        // A --config whose heads differ from the folder's (8 × 8 instead of 4 × 16: the same width, so the tensors allow it)
        // is the one the transformer is built with, so the image changes.
        string config = dir.File("config");
        Directory.CreateDirectory(config);
        File.WriteAllText(Path.Combine(config, "config.json"), File.ReadAllText(Path.Combine(folder, "transformer", "config.json"))
            .Replace("\"attention_head_dim\": 16", "\"attention_head_dim\": 8").Replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 8"));
        byte[] withFolderConfig = Generate(dir, "folder-config", "--model", file, "--components", folder);
        Assert.NotEqual(withFolderConfig, Generate(dir, "own-config", "--model", file, "--components", folder, "--config", config));
    }

    [Fact]
    public void Missing_pieces_and_misplaced_options_are_named()
    {
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny("sd3", dir);
        string file = dir.File("sd3.safetensors");
        SaiSd3FileWriter.Write(folder, file, vae: false);

        var alone = cache.Run(["generate", "--model", file, "--out", dir.File("a.png"), .. Settings]);
        Assert.NotEqual(0, alone.ExitCode);
        Assert.Contains("holds transformer of a StableDiffusion3Pipeline; generating also needs text_encoder, text_encoder_2, tokenizer, tokenizer_2, vae, scheduler",
            CliCache.Flat(alone.All));

        foreach (string weights in Directory.EnumerateFiles(Path.Combine(folder, "vae"), "*.safetensors")) File.Delete(weights);
        var noVae = cache.Run(["generate", "--model", file, "--components", folder, "--out", dir.File("b.png"), .. Settings]);
        Assert.NotEqual(0, noVae.ExitCode);
        Assert.Contains("lacks vae (AutoencoderKL)", CliCache.Flat(noVae.All));

        var onFolder = cache.Run(["generate", "--model", folder, "--components", folder, "--out", dir.File("c.png"), .. Settings]);
        Assert.NotEqual(0, onFolder.ExitCode);
        Assert.Contains("--components: only a single-file --model", CliCache.Flat(onFolder.All));
    }

    [Fact]
    public void Forward_runs_the_vae_inside_a_file_as_the_folder_vae()
    {
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny("sd3", dir);
        string file = dir.File("sd3.safetensors");
        SaiSd3FileWriter.Write(folder, file, vae: true);
        string inputs = dir.File("z.safetensors");
        var random = new Random(4);
        new Loader.SafeTensors.SafeTensorsWriter().Add("z", [1, 16, 4, 6], Enumerable.Range(0, 16 * 24).Select(_ => (float)random.NextDouble() - 0.5f).ToArray()).Save(inputs);
        string fromFolder = dir.File("folder.safetensors"), fromFile = dir.File("file.safetensors");
        var a = cache.Run("forward", "--model", folder, "--component", "vae", "--inputs", inputs, "--out", fromFolder);
        Assert.True(a.ExitCode == 0, a.All);
        // The tiny VAE's norm_num_groups cannot be inferred (the published 32 does not divide its widths): named, then given.
        var alone = cache.Run("forward", "--model", file, "--component", "vae", "--inputs", inputs, "--out", fromFile);
        Assert.NotEqual(0, alone.ExitCode);
        Assert.Contains("norm_num_groups leaves no trace in the weights", CliCache.Flat(alone.All));
        var b = cache.Run("forward", "--model", file, "--component", "vae", "--components", folder, "--inputs", inputs, "--out", fromFile);
        Assert.True(b.ExitCode == 0, b.All);
        Assert.Equal(File.ReadAllBytes(fromFolder), File.ReadAllBytes(fromFile));
    }

    [GoldenFact]
    public void Denoise_with_the_sai_file_of_sd3_tiny_reproduces_the_diffusers_trajectory()
    {
        using var dir = new TempDirectory();
        string file = dir.File("sd3_tiny.safetensors");
        SaiSd3FileWriter.WriteTransformer(GoldenFiles.At("sd3_tiny"), file);
        var golden = GoldenTensors.Load(GoldenFiles.At("sd3_tiny", "trajectory", "trajectory.safetensors"));
        var writer = new Loader.SafeTensors.SafeTensorsWriter();
        foreach (var (name, source) in new[] { ("prompt_embeds", "prompt_embeds"), ("pooled_prompt_embeds", "pooled_prompt_embeds"),
                     ("negative_prompt_embeds", "negative_prompt_embeds"), ("negative_pooled_prompt_embeds", "negative_pooled_prompt_embeds"),
                     ("latents", "initial_latents") })
            writer.Add(name, golden[source].Shape.Select(d => (long)d).ToArray(), golden[source].Values);
        string inputs = dir.File("inputs.safetensors");
        writer.Save(inputs);
        string output = dir.File("latents.safetensors");
        // sd3_tiny's head dim 16 without a qk-norm leaves no trace in the weights: its config.json is given.
        var r = CliRunner.Run("denoise", "--model", file, "--config", GoldenFiles.At("sd3_tiny"), "--inputs", inputs, "--steps", "8", "--guidance", "7",
            "--scheduler", GoldenFiles.At("sd3_tiny", "trajectory", "scheduler_config.json"), "--height", "128", "--width", "192", "--out", output);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("StableDiffusion3Pipeline", CliCache.Flat(r.All));
        var ours = GoldenTensors.Load(output);
        for (int i = 0; i < 8; i++)
            GoldenTensors.AssertConforms(golden[$"latents_step_{i}"].Values, ours[$"latents_step_{i}"].Values, $"latents_step_{i}");
    }

    [Fact]
    public void Plan_counts_the_file_components_from_its_header()
    {
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny("sd35", dir);
        string file = dir.File("sd35.safetensors");
        SaiSd3FileWriter.Write(folder, file, vae: true);
        System.Text.Json.JsonElement Weights(string json, params string[] model)
        {
            var r = cache.Run(["plan", .. model, "--memory", "1GiB", "--width", "256", "--height", "256", "--json", json]);
            Assert.True(r.ExitCode == 0, r.All);
            return System.Text.Json.JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("weight_bytes").Clone();
        }
        var fromFolder = Weights(dir.File("folder.json"), "--model", folder);
        // Remove the folder's own transformer and VAE weights: the plan of the composed model must read the file.
        foreach (string sub in new[] { "transformer", "vae" })
            foreach (string weights in Directory.EnumerateFiles(Path.Combine(folder, sub), "*.safetensors")) File.Delete(weights);
        var fromFile = Weights(dir.File("file.json"), "--model", file, "--components", folder);
        foreach (string component in new[] { "transformer", "vae", "text_encoder", "text_encoder_2" })
            Assert.Equal(fromFolder.GetProperty(component).GetInt64(), fromFile.GetProperty(component).GetInt64());
    }

    [Fact]
    public void Inspect_names_the_layout_and_every_component_of_the_file()
    {
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny("sd35", dir);
        string file = dir.File("sd35.safetensors");
        SaiSd3FileWriter.Write(folder, file, vae: true, textEncoders: true);
        var r = cache.Run("inspect", file);
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("format: Stability AI SD3 / SD3.5 single-file layout, SAI prefix 'model.diffusion_model.' removed", text);
        Assert.Contains("maps to: transformer = SD3Transformer2DModel", text);
        Assert.Contains("dual_attention_layers=[0,1]", text);
        Assert.Contains("qk_norm=rms_norm", text);
        Assert.Contains("maps to: vae = AutoencoderKL", text);
        Assert.Contains("maps to: text_encoder = CLIPTextModelWithProjection", text);
        Assert.Contains("maps to: text_encoder_2 = CLIPTextModelWithProjection", text);
    }
}
