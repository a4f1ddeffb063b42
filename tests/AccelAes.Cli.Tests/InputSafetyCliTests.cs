namespace AccelAes.Cli.Tests;

/// <summary>
/// Issue 14, classes 6 and 9 and their kin: special files (FIFOs, devices, looping links) given where a file is read,
/// counts a file claims, paths that would leave the model folder, and a model folder that silently lacks a listed part.
/// Each case must end within a time limit (a hang fails the test) with exit 1 and a message naming the cause.
/// </summary>
public sealed class InputSafetyCliTests(InputSafetyCliTests.Models models) : IClassFixture<InputSafetyCliTests.Models>
{
    /// <summary>Far above what any of these commands needs on a loaded machine; far below "hung".</summary>
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);

    /// <summary>Tiny models written once for the class; each test changes its own copy.</summary>
    public sealed class Models : IDisposable
    {
        private readonly TempDirectory _dir = new();
        private readonly Lazy<string> _sd3, _flux;

        public Models()
        {
            _sd3 = new(() => Cache.MakeTiny("sd3", _dir));
            _flux = new(() => Cache.MakeTiny("flux", _dir));
        }

        public CliCache Cache { get; } = new();

        /// <summary>A fresh copy of a tiny model ("sd3" or "flux") in <paramref name="into"/>.</summary>
        public string Copy(string arch, TempDirectory into)
        {
            string source = arch == "sd3" ? _sd3.Value : _flux.Value;
            string target = into.File(arch);
            foreach (string dir in Directory.EnumerateDirectories(source, "*", SearchOption.AllDirectories))
                Directory.CreateDirectory(Path.Combine(target, Path.GetRelativePath(source, dir)));
            Directory.CreateDirectory(target);
            foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
                File.Copy(file, Path.Combine(target, Path.GetRelativePath(source, file)));
            return target;
        }

        public void Dispose()
        {
            Cache.Dispose();
            _dir.Dispose();
        }
    }

    private CliRunner.Result Run(params string[] args) => CliRunner.Run(models.Cache.Environment, Limit, args);

    /// <summary>
    /// Exit 1 (a user error, never 70) with every one of <paramref name="causes"/> in the message. Whitespace is
    /// ignored in the comparison: the console wraps at 80 columns when redirected, breaking long paths mid-name.
    /// </summary>
    private static void AssertUserError(CliRunner.Result r, params string[] causes)
    {
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}:\n{r.All}");
        string squeezed = Squeeze(r.All);
        foreach (string cause in causes)
            Assert.True(squeezed.Contains(Squeeze(cause), StringComparison.Ordinal), $"'{cause}' is not in:\n{r.All}");
        Assert.DoesNotContain("internal error", r.All);
    }

    private static string Squeeze(string text) => string.Concat(text.Where(c => !char.IsWhiteSpace(c)));

    private CliRunner.Result Generate(string model, params string[] extra) =>
        Run(["generate", "--model", model, "--prompt", "a cat", "--steps", "1", "--width", "32", "--height", "48",
            "--out", Path.Combine(Path.GetDirectoryName(model)!, "out.png"), .. extra]);

    private CliRunner.Result Denoise(string model, string scheduler) =>
        Run("denoise", "--model", model, "--inputs", Path.Combine(model, "none.safetensors"), "--steps", "1", "--guidance", "1",
            "--scheduler", scheduler, "--out", Path.Combine(Path.GetDirectoryName(model)!, "out.safetensors"));

    // ---- Special files (class 6) -------------------------------------------------------------------------

    [Fact]
    public void A_fifo_as_model_index_json_is_refused_not_waited_on()
    {
        using var dir = new TempDirectory();
        string model = models.Copy("sd3", dir);
        File.Delete(Path.Combine(model, "model_index.json"));
        SpecialFiles.Fifo(Path.Combine(model, "model_index.json"));
        AssertUserError(Generate(model), "model_index.json", "is a FIFO (named pipe), not a regular file");
        AssertUserError(Run("inspect", model), "model_index.json", "FIFO");
    }

    [Fact]
    public void A_fifo_as_a_component_config_is_refused_not_waited_on()
    {
        using var dir = new TempDirectory();
        string model = models.Copy("sd3", dir);
        string config = Path.Combine(model, "transformer", "config.json");
        File.Delete(config);
        SpecialFiles.Fifo(config);
        AssertUserError(Generate(model), config, "FIFO");
    }

    [Fact]
    public void A_fifo_or_a_device_as_the_scheduler_is_refused_not_read_forever()
    {
        using var dir = new TempDirectory();
        string model = models.Copy("sd3", dir);
        string fifo = SpecialFiles.Fifo(dir.File("scheduler_config.json"));
        AssertUserError(Denoise(model, fifo), fifo, "FIFO");
        AssertUserError(Denoise(model, "/dev/zero"), "'/dev/zero' is a character device");
    }

    [Fact]
    public void A_symlink_loop_is_named_as_one()
    {
        using var dir = new TempDirectory();
        string model = models.Copy("sd3", dir);
        string config = Path.Combine(model, "vae", "config.json");
        File.Delete(config);
        SpecialFiles.SymlinkLoop(config);
        AssertUserError(Generate(model), config, "symbolic link that loops");
        AssertUserError(Run("inspect", model), config, "loops");
    }

    // ---- Counts a file claims (class 5) ------------------------------------------------------------------

    [Fact]
    public void T5_extra_ids_of_a_hundred_million_are_refused_at_once()
    {
        using var dir = new TempDirectory();
        string model = models.Copy("flux", dir);
        string config = Path.Combine(model, "tokenizer_2", "tokenizer_config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"extra_ids\": 100", "\"extra_ids\": 100000000"));
        AssertUserError(Run("tokenize", "--model", model, "--component", "tokenizer_2", "--prompt", "a cat"),
            "tokenizer_config.json", "extra_ids is 100000000");
    }

    [Fact]
    public void A_vocab_id_that_is_not_a_number_names_the_file_and_the_entry()
    {
        using var dir = new TempDirectory();
        string model = models.Copy("sd3", dir);
        string vocab = Path.Combine(model, "tokenizer", "vocab.json");
        File.WriteAllText(vocab, "{\"a</w>\": \"five\", \"b</w>\": 1}");
        AssertUserError(Run("tokenize", "--model", model, "--prompt", "a cat"), vocab, "token 'a</w>' has id \"five\"");
    }

    // ---- Paths that would leave the model folder (classes 10, 11) ----------------------------------------

    [Fact]
    public void A_variant_with_a_path_in_it_is_a_user_error()
    {
        using var dir = new TempDirectory();
        string model = models.Copy("sd3", dir);
        AssertUserError(Generate(model, "--variant", "../x"), "Variant '../x' must be letters, digits");
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("/etc")]
    public void Forward_refuses_a_component_outside_the_model_folder(string component)
    {
        using var dir = new TempDirectory();
        string model = models.Copy("sd3", dir);
        var r = Run("forward", "--model", model, "--component", component, "--inputs", dir.File("none.safetensors"), "--out", dir.File("o.safetensors"));
        AssertUserError(r, $"Component '{component}'", "component must be a folder name inside the model folder");
        Assert.False(File.Exists(dir.File("o.safetensors")));
    }

    [Fact]
    public void A_file_given_as_the_model_folder_is_called_a_file()
    {
        using var dir = new TempDirectory();
        string png = dir.Write("image.png", [0x89, 0x50, 0x4E, 0x47]);
        AssertUserError(Generate(png), png, "is a file, not a model folder");
        AssertUserError(Run("tokenize", "--model", png, "--prompt", "a"), "is a file, not a model folder");
    }

    // ---- Silent degradation (class 9) --------------------------------------------------------------------

    [Fact]
    public void A_listed_t5_whose_folder_is_missing_is_an_error_naming_it()
    {
        using var dir = new TempDirectory();
        string model = models.Copy("sd3", dir);
        string index = Path.Combine(model, "model_index.json");
        File.WriteAllText(index, File.ReadAllText(index)
            .Replace("\"text_encoder_3\": [\n    null,\n    null\n  ]", "\"text_encoder_3\": [\"transformers\", \"T5EncoderModel\"]")
            .Replace("\"tokenizer_3\": [\n    null,\n    null\n  ]", "\"tokenizer_3\": [\"transformers\", \"T5TokenizerFast\"]"));
        Assert.Contains("T5EncoderModel", File.ReadAllText(index));
        AssertUserError(Generate(model), "model_index.json lists 'text_encoder_3'", Path.Combine(model, "text_encoder_3"));
    }

    [Fact]
    public void A_t5_listed_as_null_is_legitimately_absent()
    {
        using var dir = new TempDirectory();
        string model = models.Copy("sd3", dir);
        Assert.Contains("\"text_encoder_3\": [\n    null,", File.ReadAllText(Path.Combine(model, "model_index.json")));
        var r = Generate(model);
        Assert.True(r.ExitCode == 0, r.All);
    }

    [Theory]
    [InlineData("empty")]
    [InlineData("corrupt")]
    public void Inspect_reports_an_unreadable_weights_file_and_exits_1(string damage)
    {
        using var dir = new TempDirectory();
        string model = models.Copy("sd3", dir);
        string weights = Path.Combine(model, "vae", "diffusion_pytorch_model.safetensors");
        File.WriteAllBytes(weights, damage == "empty" ? [] : [.. BitConverter.GetBytes(64L), .. "{\"a\": not json"u8.ToArray(), .. new byte[64]]);
        var r = Run("inspect", model);
        AssertUserError(r, weights, "1 weights file(s) could not be read");
        Assert.Contains("model class: SD3Transformer2DModel", r.Output); // the rest is still shown
    }
}
