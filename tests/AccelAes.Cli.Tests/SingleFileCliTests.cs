namespace AccelAes.Cli.Tests;

/// <summary>`forward` and `inspect` take a FLUX single-file checkpoint (../shared/conformance/flux_singlefile).</summary>
public class SingleFileCliTests
{
    private static string Case(string folder, string file) => GoldenFiles.At("flux_singlefile", folder, file);

    [GoldenTheory]
    [InlineData("flux_singlefile_tiny_prefixed", "flux1-tiny-prefixed.safetensors")]
    [InlineData("flux_fp8_scaled_tiny", "flux1-tiny-fp8-scaled.safetensors")]
    public void Forward_runs_the_transformer_of_a_single_file(string folder, string file)
    {
        using var dir = new TempDirectory();
        string output = dir.File("out.safetensors");
        var r = CliRunner.Run("forward", "--model", Case(folder, file), "--inputs", Case(folder, "inputs.safetensors"),
            "--out", output, "--compare", Case(folder, "outputs.safetensors"));
        Assert.True(r.ExitCode == 0, r.All);
        GoldenTensors.AssertConforms(GoldenTensors.Load(Case(folder, "outputs.safetensors"))["sample"].Values,
            GoldenTensors.Load(output)["sample"].Values, $"accelaes forward {file}");
    }

    [GoldenFact]
    public void Forward_refuses_a_component_the_file_does_not_hold()
    {
        using var dir = new TempDirectory();
        var r = CliRunner.Run("forward", "--model", Case("flux_singlefile_tiny", "flux1-tiny.safetensors"), "--component", "vae",
            "--inputs", Case("flux_singlefile_tiny", "inputs.safetensors"), "--out", dir.File("out.safetensors"));
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("has no vae; it holds transformer", CliCache.Flat(r.All));
    }

    [GoldenTheory]
    [InlineData("flux_singlefile_tiny", "flux1-tiny.safetensors", "BFL FLUX.1 single-file layout")]
    [InlineData("flux_singlefile_tiny_prefixed", "flux1-tiny-prefixed.safetensors", "ComfyUI-prefixed")]
    [InlineData("flux_fp8_e4m3_tiny", "flux1-tiny-fp8-e4m3fn.safetensors", "fp8 weights")]
    [InlineData("flux_fp8_scaled_tiny", "flux1-tiny-fp8-scaled.safetensors", "ComfyUI scaled fp8")]
    public void Inspect_names_the_format_and_the_model(string folder, string file, string format)
    {
        var r = CliRunner.Run("inspect", Case(folder, file));
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains(format, text);
        Assert.Contains("maps to: transformer = FluxTransformer2DModel", text);
        Assert.Contains("num_single_layers=2", text);
    }

    [GoldenFact]
    public void Inspect_names_the_comfyui_mixed_precision_format()
    {
        using var dir = new TempDirectory();
        string file = dir.File("flux1-tiny-mixed.safetensors");
        File.Copy(Case("flux_singlefile_tiny", "config.json"), dir.File("config.json"));
        ComfyQuantFileWriter.Write(Case("flux_singlefile_tiny", "flux1-tiny.safetensors"), file, dir.File("reference.safetensors"),
            module => module.StartsWith("double_blocks.", StringComparison.Ordinal) ? "float8_e4m3fn" : null);
        var r = CliRunner.Run("inspect", file);
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("ComfyUI mixed-precision fp8", text);
        Assert.Contains("maps to: transformer = FluxTransformer2DModel", text);
    }

    [GoldenFact]
    public void Generate_with_a_single_file_names_what_is_missing()
    {
        using var dir = new TempDirectory();
        var r = CliRunner.Run("generate", "--model", Case("flux_singlefile_tiny", "flux1-tiny.safetensors"), "--prompt", "a cat",
            "--out", dir.File("cat.png"));
        Assert.NotEqual(0, r.ExitCode);
        string text = CliCache.Flat(r.All);
        Assert.Contains("holds transformer of a FluxPipeline; generating also needs text_encoder, text_encoder_2, tokenizer, tokenizer_2, vae, scheduler", text);
        Assert.Contains("pass --components DIR", text);
    }

    [GoldenFact]
    public void Forward_takes_the_config_folder_from_config()
    {
        using var dir = new TempDirectory();
        string folder = "flux_singlefile_tiny";
        string copy = dir.File("alone.safetensors");
        File.Copy(Case(folder, "flux1-tiny.safetensors"), copy);
        string output = dir.File("out.safetensors");
        string[] common = ["forward", "--model", copy, "--inputs", Case(folder, "inputs.safetensors"), "--out", output];

        var alone = CliRunner.Run(common);
        Assert.NotEqual(0, alone.ExitCode);
        Assert.Contains("axes_dims_rope", CliCache.Flat(alone.All));

        var r = CliRunner.Run([.. common, "--config", GoldenFiles.At("flux_singlefile", folder), "--compare", Case(folder, "outputs.safetensors")]);
        Assert.True(r.ExitCode == 0, r.All);

        var onFolder = CliRunner.Run("forward", "--model", GoldenFiles.At("flux_tiny"), "--config", GoldenFiles.At("flux_singlefile", folder),
            "--inputs", Case(folder, "inputs.safetensors"), "--out", dir.File("other.safetensors"));
        Assert.NotEqual(0, onFolder.ExitCode);
        Assert.Contains("--config applies to a single-file --model only", CliCache.Flat(onFolder.All));
    }
}

/// <summary>`denoise --model FILE`: the sampling loop on a single file's transformer, from precomputed embeddings.</summary>
public class SingleFileDenoiseCliTests
{
    [GoldenFact]
    public void Denoise_samples_with_the_transformer_of_a_single_file()
    {
        using var dir = new TempDirectory();
        string folder = GoldenFiles.At("flux_singlefile", "flux_fp8_scaled_tiny");
        var golden = GoldenTensors.Load(Path.Combine(folder, "inputs.safetensors"));
        var writer = new Loader.SafeTensors.SafeTensorsWriter();
        foreach (var (name, source) in new[] { ("latents", "hidden_states"), ("prompt_embeds", "encoder_hidden_states"), ("pooled_prompt_embeds", "pooled_projections") })
            writer.Add(name, golden[source].Shape.Select(d => (long)d).ToArray(), golden[source].Values);
        string inputs = dir.File("inputs.safetensors");
        writer.Save(inputs);
        string output = dir.File("latents.safetensors");

        // hidden_states are the packed latents of an 8 × 12 token grid: 128 × 192 pixels.
        var r = CliRunner.Run("denoise", "--model", Path.Combine(folder, "flux1-tiny-fp8-scaled.safetensors"), "--inputs", inputs,
            "--steps", "2", "--guidance", "3.5", "--height", "128", "--width", "192", "--out", output);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("FluxPipeline with FluxTransformer2DModel", CliCache.Flat(r.All));
        var latents = GoldenTensors.Load(output);
        Assert.Equal(2, latents.Count);
        Assert.All(latents["latents_step_1"].Values, v => Assert.True(float.IsFinite(v)));
        Assert.NotEqual(golden["hidden_states"].Values, latents["latents_step_1"].Values);
    }
}
