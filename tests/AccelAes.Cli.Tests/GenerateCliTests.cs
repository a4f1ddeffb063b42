using BigGustave;

namespace AccelAes.Cli.Tests;

/// <summary>`accelaes generate` end to end, in a child process: PNG output, reproducibility, every backbone, and the user errors.</summary>
public class GenerateCliTests(CliCache cache) : IClassFixture<CliCache>
{
    /// <summary>generate with 2 steps at 32×48 unless <paramref name="args"/> set those.</summary>
    private CliRunner.Result Generate(string output, params string[] args)
    {
        var defaults = new[] { ("--steps", "2"), ("--width", "32"), ("--height", "48") }
            .Where(d => !args.Contains(d.Item1)).SelectMany(d => new[] { d.Item1, d.Item2 });
        return cache.Run(["generate", "--out", output, .. defaults, .. args]);
    }

    /// <summary>Decodes the PNG and returns its pixels as RGB bytes.</summary>
    internal static (int Width, int Height, byte[] Rgb) Decode(string path)
    {
        using var stream = File.OpenRead(path);
        Png png = Png.Open(stream);
        var rgb = new byte[png.Width * png.Height * 3];
        for (int y = 0; y < png.Height; y++)
            for (int x = 0; x < png.Width; x++)
            {
                Pixel p = png.GetPixel(x, y);
                int o = (y * png.Width + x) * 3;
                (rgb[o], rgb[o + 1], rgb[o + 2]) = (p.R, p.G, p.B);
            }
        return (png.Width, png.Height, rgb);
    }

    [Fact]
    public void The_built_in_model_writes_a_png_of_the_requested_size_with_the_settings_as_text()
    {
        using var dir = new TempDirectory();
        string output = dir.File("cat.png");
        var r = Generate(output, "--prompt", "a red cube on a table", "--seed", "42");
        Assert.True(r.ExitCode == 0, r.All);
        // The built-in model went to the test's cache, not the user's.
        Assert.True(File.Exists(Path.Combine(cache.Path, "builtin", "sd3-tiny-v1", "model_index.json")));

        var (width, height, rgb) = Decode(output);
        Assert.Equal((32, 48), (width, height));
        Assert.Contains(rgb, b => b != rgb[0]); // not a blank image
        var text = PngText.Read(File.ReadAllBytes(output));
        Assert.Equal("a red cube on a table", text["prompt"]);
        Assert.Equal("42", text["seed"]);
        Assert.Equal("2", text["steps"]);
        Assert.Equal("7", text["guidance_scale"]);
        Assert.Equal("32x48", text["size"]);
        Assert.False(text.ContainsKey("true_cfg_scale"));
    }

    [Fact]
    public void The_same_seed_gives_the_same_file_and_another_seed_another_image()
    {
        using var dir = new TempDirectory();
        string a = dir.File("a.png"), b = dir.File("b.png"), c = dir.File("c.png");
        foreach (var (file, seed) in new[] { (a, "5"), (b, "5"), (c, "6") })
        {
            var r = Generate(file, "--prompt", "a lighthouse", "--seed", seed);
            Assert.True(r.ExitCode == 0, r.All);
        }
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        Assert.NotEqual(Decode(a).Rgb, Decode(c).Rgb);
    }

    [Theory]
    [InlineData("flux", "3.5")]
    [InlineData("flux-schnell", "0")] // the model card's guidance 0, not FluxPipeline's 3.5
    [InlineData("lumina-next", "4")]
    public void Every_tiny_backbone_generates_from_its_make_tiny_folder(string arch, string defaultGuidance)
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny(arch, dir);
        string output = dir.File("out.png");
        var r = Generate(output, "--model", model, "--prompt", "A Cat");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal((32, 48), (Decode(output).Width, Decode(output).Height));
        var text = PngText.Read(File.ReadAllBytes(output));
        Assert.Equal(defaultGuidance, text["guidance_scale"]);
        Assert.Equal("A Cat", text["prompt"]);
    }

    [Fact]
    public void A_schnell_folder_samples_the_model_cards_4_steps_and_says_so()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("flux-schnell", dir);
        string output = dir.File("out.png");
        var r = cache.Run("generate", "--out", output, "--model", model, "--width", "32", "--height", "32");
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("FLUX.1-schnell model", text);
        Assert.Contains("4 steps", text);
        Assert.Contains("max_sequence_length 256", text);
        Assert.Equal("4", PngText.Read(File.ReadAllBytes(output))["steps"]);

        var dev = cache.Run("generate", "--out", dir.File("dev.png"), "--model", cache.MakeTiny("flux", dir), "--steps", "2", "--width", "32", "--height", "32");
        Assert.True(dev.ExitCode == 0, dev.All);
        Assert.DoesNotContain("FLUX.1-schnell", CliCache.Flat(dev.All));
    }

    [Fact]
    public void True_cfg_scale_is_stored_for_flux_and_refused_elsewhere()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("flux", dir);
        var flux = Generate(dir.File("f.png"), "--model", model, "--true-cfg-scale", "2.5", "--negative-prompt", "blurry");
        Assert.True(flux.ExitCode == 0, flux.All);
        Assert.Equal("2.5", PngText.Read(File.ReadAllBytes(dir.File("f.png")))["true_cfg_scale"]);

        var sd3 = Generate(dir.File("s.png"), "--true-cfg-scale", "2.5");
        Assert.Equal(1, sd3.ExitCode);
        Assert.Contains("--true-cfg-scale", CliCache.Flat(sd3.All));
        Assert.False(File.Exists(dir.File("s.png")));
    }

    [Fact]
    public void A_folder_missing_a_component_is_a_user_error_naming_it()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        Directory.Delete(Path.Combine(model, "vae"), recursive: true);
        string output = dir.File("out.png");
        var r = Generate(output, "--model", model);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("'vae'", CliCache.Flat(r.All));
        Assert.DoesNotContain("internal error", r.All);
        Assert.False(File.Exists(output));
    }

    [Theory]
    [InlineData("--width", "40", "StableDiffusion3Pipeline needs a width and height (--width, --height) that are multiples of 16; got 40×48")]
    [InlineData("--height", "-16", "--height is -16; it must be between 1 and 8192")]
    public void A_size_off_the_grid_is_a_user_error_naming_the_size_rule(string option, string value, string rule)
    {
        using var dir = new TempDirectory();
        string output = dir.File("out.png");
        var r = Generate(output, option, value);
        Assert.Equal(1, r.ExitCode);
        string all = CliCache.Flat(r.All);
        Assert.Contains(rule, all);
        Assert.False(File.Exists(output));
    }
}
