namespace AccelAes.Cli.Tests;

/// <summary>make-tiny, inspect and the error paths users hit first.</summary>
public class ToolCliTests
{
    [Fact]
    public void MakeTiny_writes_a_folder_that_inspect_recognises()
    {
        using var dir = new TempDirectory();
        var made = CliRunner.Run("make-tiny", "--arch", "sd35", "--out", dir.Path);
        Assert.True(made.ExitCode == 0, made.All);
        var inspected = CliRunner.Run("inspect", dir.Path);
        Assert.True(inspected.ExitCode == 0, inspected.All);
        Assert.Contains("StableDiffusion3Pipeline", inspected.Output);
        Assert.Contains("model class: SD3Transformer2DModel", inspected.Output);
        Assert.Contains("qk_norm=rms_norm", inspected.Output);
    }

    [Fact]
    public void MakeTiny_writes_the_same_weights_in_every_process()
    {
        // The tiny models' random weights are a function of the seed and the tensor name only; a per-process hash
        // seed (HashCode.Combine) once made every run of the built-in model a different model.
        using var first = new TempDirectory();
        using var second = new TempDirectory();
        foreach (var dir in new[] { first, second })
        {
            var made = CliRunner.Run("make-tiny", "--arch", "sd3", "--out", dir.Path);
            Assert.True(made.ExitCode == 0, made.All);
        }
        var files = Directory.GetFiles(first.Path, "*.safetensors", SearchOption.AllDirectories);
        Assert.NotEmpty(files);
        foreach (string file in files)
        {
            string twin = Path.Combine(second.Path, Path.GetRelativePath(first.Path, file));
            Assert.True(File.ReadAllBytes(file).AsSpan().SequenceEqual(File.ReadAllBytes(twin)), $"{file} differs between two processes");
        }
    }

    [Fact]
    public void A_missing_model_folder_is_a_user_error_naming_it()
    {
        var r = CliRunner.Run("inspect", "/nonexistent/model");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("/nonexistent/model", r.All);
    }

    [Fact]
    public void A_bad_option_is_a_usage_error()
    {
        var r = CliRunner.Run("make-tiny", "--arch", "no-such-arch", "--out", "/tmp/x");
        Assert.Equal(2, r.ExitCode);
    }

    [Fact]
    public void A_truncated_checkpoint_is_reported_with_its_file_name()
    {
        using var dir = new TempDirectory();
        string path = dir.Write("broken.safetensors", [1, 2, 3]);
        var r = CliRunner.Run("inspect", path);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("broken.safetensors", r.All);
    }
}
