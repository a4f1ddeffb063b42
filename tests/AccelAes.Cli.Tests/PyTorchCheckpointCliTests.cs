namespace AccelAes.Cli.Tests;

/// <summary>
/// PyTorch checkpoints through the CLI: a component that ships only <c>diffusion_pytorch_model.bin</c> (torch.save's
/// format, written here without torch) generates the same image as its safetensors original, <c>inspect</c> lists a
/// .bin's tensors, and a pickle that would run code is refused with exit 1 and runs nothing.
/// </summary>
public sealed class PyTorchCheckpointCliTests : IDisposable
{
    private readonly CliCache _cache = new();

    public void Dispose() => _cache.Dispose();

    [Fact]
    public void Component_with_only_a_bin_file_generates_the_same_image()
    {
        using var dir = new TempDirectory();
        var model = _cache.MakeTiny("sd3", dir);
        var dense = Generate(model, dir.File("safetensors.png"));
        var weights = Path.Combine(model, "transformer", "diffusion_pytorch_model.safetensors");
        TorchSaveFiles.FromSafeTensors(weights, Path.Combine(model, "transformer", "diffusion_pytorch_model.bin"));
        File.Delete(weights);

        var fromBin = Generate(model, dir.File("bin.png"));

        Assert.Equal(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(fromBin).Rgb);
        var inspect = _cache.Run("inspect", Path.Combine(model, "transformer"));
        Assert.True(inspect.ExitCode == 0, inspect.All);
        // Whitespace removed: the console wraps long paths mid-name at 80 columns.
        Assert.Contains("weights:" + Path.Combine(model, "transformer", "diffusion_pytorch_model.bin"),
            string.Concat(inspect.Output.Where(c => !char.IsWhiteSpace(c))));
    }

    [Fact]
    public void Inspect_lists_the_tensors_of_a_pt_file()
    {
        using var dir = new TempDirectory();
        var model = _cache.MakeTiny("sd3", dir);
        var pt = dir.File("vae.pt");
        TorchSaveFiles.FromSafeTensors(Path.Combine(model, "vae", "diffusion_pytorch_model.safetensors"), pt);

        var r = _cache.Run("inspect", pt);

        Assert.True(r.ExitCode == 0, r.All);
        var text = CliCache.Flat(r.Output);
        Assert.Contains("format: PyTorch checkpoint", text);
        Assert.Contains("decoder.conv_in.weight", text);
        Assert.Contains("F32", text);
    }

    [Fact]
    public void Inspect_refuses_a_pickle_that_would_run_code()
    {
        using var dir = new TempDirectory();
        var marker = dir.File("ran");
        var pickle = new PickleWriter().Proto(2).Global("os", "system").Mark().Unicode($"touch '{marker}'").Tuple().Reduce().Stop().ToArray();
        var path = TorchSaveFiles.Write(dir, "evil.pt", TorchSaveFiles.Zip(pickle, []));

        var r = _cache.Run("inspect", path);

        Assert.True(r.ExitCode == 1, r.All);
        Assert.Contains("'os.system'", CliCache.Flat(r.All));
        Assert.DoesNotContain("internal error", r.All);
        Assert.False(File.Exists(marker));
    }

    private string Generate(string model, string output)
    {
        var r = _cache.Run("generate", "--model", model, "--prompt", "a cat", "--steps", "1", "--width", "32", "--height", "32",
            "--seed", "3", "--out", output);
        Assert.True(r.ExitCode == 0, r.All);
        return output;
    }
}
