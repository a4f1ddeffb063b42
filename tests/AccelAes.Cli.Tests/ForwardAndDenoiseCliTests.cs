using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli.Tests;

/// <summary>`accelaes forward` and `accelaes denoise` reproduce the diffusers goldens from the command line.</summary>
public class ForwardAndDenoiseCliTests
{
    [GoldenFact]
    public void Forward_reproduces_the_sd3_golden()
    {
        using var dir = new TempDirectory();
        string output = dir.File("out.safetensors");
        var r = CliRunner.Run("forward", "--model", GoldenFiles.At("sd3_tiny"), "--inputs", GoldenFiles.At("sd3_tiny", "inputs.safetensors"),
            "--out", output, "--compare", GoldenFiles.At("sd3_tiny", "outputs.safetensors"));
        Assert.True(r.ExitCode == 0, r.All);
        var ours = GoldenTensors.Load(output);
        var reference = GoldenTensors.Load(GoldenFiles.At("sd3_tiny", "outputs.safetensors"));
        GoldenTensors.AssertConforms(reference["sample"].Values, ours["sample"].Values, "accelaes forward sample");
    }

    [GoldenFact]
    public void Forward_with_the_bf16_variant_reproduces_the_bf16_golden()
    {
        using var dir = new TempDirectory();
        string output = dir.File("out.safetensors");
        var r = CliRunner.Run("forward", "--model", GoldenFiles.At("sd3_tiny"), "--variant", "bf16",
            "--inputs", GoldenFiles.At("sd3_tiny", "inputs.safetensors"), "--out", output);
        Assert.True(r.ExitCode == 0, r.All);
        var reference = GoldenTensors.Load(GoldenFiles.At("sd3_tiny", "outputs.safetensors"));
        GoldenTensors.AssertConforms(reference["sample_bf16_weights"].Values, GoldenTensors.Load(output)["sample"].Values, "bf16 sample");
    }

    [GoldenFact]
    public void Denoise_reproduces_the_sd3_trajectory()
    {
        using var dir = new TempDirectory();
        var golden = GoldenTensors.Load(GoldenFiles.At("sd3_tiny", "trajectory", "trajectory.safetensors"));
        // The pipeline's argument names: `latents` is the initial noise.
        var writer = new SafeTensorsWriter();
        foreach (var (name, source) in new[] { ("prompt_embeds", "prompt_embeds"), ("pooled_prompt_embeds", "pooled_prompt_embeds"),
                     ("negative_prompt_embeds", "negative_prompt_embeds"), ("negative_pooled_prompt_embeds", "negative_pooled_prompt_embeds"),
                     ("latents", "initial_latents") })
            writer.Add(name, golden[source].Shape.Select(d => (long)d).ToArray(), golden[source].Values);
        string inputs = dir.File("inputs.safetensors");
        writer.Save(inputs);
        string output = dir.File("latents.safetensors");

        var r = CliRunner.Run("denoise", "--model", GoldenFiles.At("sd3_tiny"), "--inputs", inputs, "--steps", "8", "--guidance", "7",
            "--scheduler", GoldenFiles.At("sd3_tiny", "trajectory", "scheduler_config.json"), "--height", "128", "--width", "192", "--out", output);
        Assert.True(r.ExitCode == 0, r.All);
        var ours = GoldenTensors.Load(output);
        Assert.Equal(8, ours.Count);
        for (int i = 0; i < 8; i++)
            GoldenTensors.AssertConforms(golden[$"latents_step_{i}"].Values, ours[$"latents_step_{i}"].Values, $"latents_step_{i}");
    }

    [GoldenFact]
    public void Forward_names_missing_and_unexpected_inputs()
    {
        using var dir = new TempDirectory();
        var golden = GoldenTensors.Load(GoldenFiles.At("sd3_tiny", "inputs.safetensors"));
        var writer = new SafeTensorsWriter();
        writer.Add("hidden_states", golden["hidden_states"].Shape.Select(d => (long)d).ToArray(), golden["hidden_states"].Values);
        writer.Add("encoder_hidden_state", golden["encoder_hidden_states"].Shape.Select(d => (long)d).ToArray(), golden["encoder_hidden_states"].Values);
        string inputs = dir.File("bad.safetensors");
        writer.Save(inputs);
        var r = CliRunner.Run("forward", "--model", GoldenFiles.At("sd3_tiny"), "--inputs", inputs, "--out", dir.File("o.safetensors"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("'encoder_hidden_state'", r.All);
        Assert.False(File.Exists(dir.File("o.safetensors")));
    }
}
