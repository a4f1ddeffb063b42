using System.Diagnostics;

namespace AccelAes.Cli.Tests;

/// <summary>
/// Issue 14, classes 5, 7, 8, 10 and 11: counts and sizes a user types are bounded and checked before anything loads
/// (InputLimits, GenerationRequestValidation, ValueChecks), with the same rules as the C ABI, and the messages name
/// the option. Each case must end with exit 1 (a user error), never 70, and quickly: a late check is a bug too.
/// </summary>
public class InputBoundsCliTests(CliCache cache) : IClassFixture<CliCache>
{
    /// <summary>Far below what the unchecked values took (minutes, or an out-of-memory kill), far above a refusal at start-up.</summary>
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(45);

    private CliRunner.Result Refused(string mustSay, params string[] args)
    {
        var watch = Stopwatch.StartNew();
        var r = cache.Run(args);
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode} for accelaes {string.Join(' ', args)}:\n{r.All}");
        Assert.Contains(mustSay, CliCache.Flat(r.All));
        Assert.DoesNotContain("internal error", r.All);
        Assert.True(watch.Elapsed < Prompt, $"accelaes {string.Join(' ', args)} took {watch.Elapsed.TotalSeconds:F0} s to refuse");
        return r;
    }

    [Theory]
    [InlineData("generate", "--steps", "2147483647", "--steps is 2147483647; it must be between 1 and 10000")]
    [InlineData("generate", "--steps", "0", "--steps is 0; it must be between 1 and 10000")]
    [InlineData("generate", "--guidance", "NaN", "--guidance is NaN")]
    [InlineData("generate", "--guidance", "-1", "--guidance is -1")]
    [InlineData("generate", "--width", "-32", "--width is -32")]
    [InlineData("generate", "--height", "1000000", "--height is 1000000; it must be between 1 and 8192")]
    [InlineData("explain", "--steps", "2147483647", "--steps is 2147483647")]
    [InlineData("explain", "--size", "1000000", "--size is 1000000")]
    [InlineData("explain", "--focus-fraction", "5", "--focus-fraction is 5; it must be a fraction")]
    public void Typed_counts_sizes_and_scales_are_bounded(string command, string option, string value, string mustSay)
    {
        using var dir = new TempDirectory();
        string[] args = command == "explain" ? ["explain", "--arch", "sd3", option, value] : ["generate", "--out", dir.File("x.png"), option, value];
        Refused(mustSay, args);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void A_size_beyond_the_sd3_position_table_is_refused_before_the_prompt_is_encoded()
    {
        using var dir = new TempDirectory();
        var r = Refused("pos_embed_max_size", "generate", "--out", dir.File("x.png"), "--width", "4096", "--height", "4096", "--steps", "1");
        Assert.Contains("4096×4096 is larger than this model can generate", CliCache.Flat(r.All));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void True_cfg_scale_is_refused_when_not_finite_and_on_pipelines_without_it()
    {
        using var dir = new TempDirectory();
        Refused("--true-cfg-scale is Infinity", "generate", "--out", dir.File("x.png"), "--true-cfg-scale", "Infinity");
        Refused("--true-cfg-scale is a FluxPipeline setting; StableDiffusion3Pipeline guides with --guidance",
            "generate", "--out", dir.File("x.png"), "--true-cfg-scale", "2", "--steps", "1", "--width", "32", "--height", "32");
    }

    [Theory]
    [InlineData("blur_sigma=1e30", "blur_sigma: must be a number above 0 and at most 1024")]
    [InlineData("interval=2147483647", "interval: must be between 1")]
    [InlineData("layers=0,99999", "layers: layer indices must be between 0 and 10000")]
    [InlineData("s_fg=1e30", "s_fg: must be a number between")]
    public void Acceleration_knobs_have_upper_bounds(string knob, string mustSay)
    {
        using var dir = new TempDirectory();
        Refused(mustSay, "explain", "--arch", "sd3", "--set", knob);
        Refused(mustSay, "generate", "--out", dir.File("x.png"), "--accel", "accelaes", "--steps", "12", "--set", knob);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void Tokenize_max_length_is_bounded_before_any_allocation() =>
        Refused("--max-length is 2000000000; it must be between 1 and 16384", "tokenize", "--prompt", "a cat", "--max-length", "2000000000");

    [Theory]
    [InlineData("--repeat", "-1", "--repeat is -1; it must be between 1")]
    [InlineData("--warmup", "-3", "--warmup is -3")]
    [InlineData("--focus-fraction", "5", "--focus-fraction is 5; it must be a fraction above 0 and at most 1")]
    [InlineData("--resolution", "100000", "--resolution is 100000")]
    [InlineData("--sizes", "0", "--sizes is 0")]
    public void Bench_numbers_are_refused_not_clamped(string option, string value, string mustSay) =>
        Refused(mustSay, "bench", "--sparse-cost", option, value);

    [Theory]
    [InlineData("compute_80 --evil")]
    [InlineData("sm_99999999999")]
    [InlineData("")]
    public void Kernels_arch_that_is_not_an_architecture_is_a_user_error(string arch) =>
        Refused("is not an architecture; use all, compute_XX or sm_XX", "kernels", "--compile", "--arch", arch);

    [Fact]
    public void Denoise_steps_are_bounded_before_the_model_loads()
    {
        using var dir = new TempDirectory();
        Refused("--steps is 2147483647", "denoise", "--model", dir.Path, "--inputs", dir.File("in.safetensors"), "--steps", "2147483647",
            "--guidance", "1", "--out", dir.File("out.safetensors"));
        Refused("--guidance is NaN", "denoise", "--model", dir.Path, "--inputs", dir.File("in.safetensors"), "--steps", "2",
            "--guidance", "NaN", "--out", dir.File("out.safetensors"));
    }

    [Fact]
    public void A_long_negative_prompt_is_named_in_its_truncation_warning()
    {
        using var dir = new TempDirectory();
        string longText = string.Join(' ', Enumerable.Repeat("blurry", 120));
        var r = cache.Run("generate", "--out", dir.File("x.png"), "--steps", "1", "--width", "32", "--height", "32", "--negative-prompt", longText);
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("The negative prompt is longer than tokenizer (CLIP-L) takes", text);
        Assert.DoesNotContain("The prompt is longer", text);
    }

    [Fact]
    public void Forward_checks_that_the_compare_file_exists_before_running_and_writing_out()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        string output = dir.File("out.safetensors");
        Refused("--compare: the reference file", "forward", "--model", model, "--component", "vae", "--inputs", dir.File("missing-inputs.safetensors"),
            "--out", output, "--compare", dir.File("no-such-reference.safetensors"));
        Assert.False(File.Exists(output));
    }

    [Theory]
    [InlineData("forward", "--inputs")]
    [InlineData("denoise", "--model")]
    [InlineData("generate", "--model")]
    [InlineData("tokenize", "--model")]
    [InlineData("bench", "--read")]
    [InlineData("inspect", "")]
    [InlineData("forward", "--compare")]
    public void An_empty_path_is_a_user_error_naming_it(string command, string option)
    {
        // Found by the fuzz test (ArgumentException from .NET's path APIs, exit 70): every user path goes through UserPath.
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        string[] args = command switch
        {
            "forward" when option == "--compare" =>
                ["forward", "--model", model, "--inputs", dir.File("i.safetensors"), "--out", dir.File("o.safetensors"), "--compare", ""],
            "forward" => ["forward", "--model", model, "--inputs", "", "--out", dir.File("o.safetensors")],
            "denoise" => ["denoise", "--model", "", "--inputs", dir.File("i.safetensors"), "--steps", "2", "--guidance", "1", "--out", dir.File("o.safetensors")],
            "generate" => ["generate", "--model", "", "--out", dir.File("o.png"), "--steps", "1"],
            "tokenize" => ["tokenize", "--model", "", "--prompt", "a cat"],
            "bench" => ["bench", "--read", ""],
            _ => ["inspect", ""],
        };
        Assert.Contains(option, args);
        Refused("is empty: give a path", args);
    }
}
