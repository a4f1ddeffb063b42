using System.Diagnostics;

namespace AccelAes.Cli.Tests;

/// <summary>
/// Issue 14, classes 1–3: an output never replaces a device, pipe or folder, a bad output path is a user error (exit 1,
/// never 70) found before anything runs, and no output overwrites an input of the same run or another output.
/// Every refusal leaves the inputs byte-identical.
/// </summary>
public sealed class OutputSafetyCliTests(OutputSafetyCliTests.Setup setup) : IClassFixture<OutputSafetyCliTests.Setup>
{
    /// <summary>One tiny SD3 model and a cache for the whole class (make-tiny takes seconds).</summary>
    public sealed class Setup : IDisposable
    {
        private readonly TempDirectory _dir = new();

        public Setup() => Model = Cache.MakeTiny("sd3", _dir);

        public CliCache Cache { get; } = new();
        public string Model { get; }

        public void Dispose()
        {
            _dir.Dispose();
            Cache.Dispose();
        }
    }

    private readonly string _model = setup.Model;

    private Outcome Run(params string[] args) => new(setup.Cache.Run(args));

    /// <summary>A refusal: exit 1 with every part of the expected message, and no internal error.</summary>
    private sealed record Outcome(CliRunner.Result Result)
    {
        public void AssertRefused(params string[] messageParts)
        {
            Assert.True(Result.ExitCode == 1, $"exit {Result.ExitCode}:\n{Result.All}");
            string text = CliCache.Flat(Result.All);
            Assert.DoesNotContain("internal error", text);
            foreach (string part in messageParts) Assert.Contains(part, text);
        }
    }

    [Theory]
    [InlineData("folder", "is a folder")]
    [InlineData("folder/", "names a folder")]
    [InlineData("under-a-file", "is a file, not a folder")]
    [InlineData("empty", "--out is empty")]
    [InlineData("proc", "files cannot be created in '/proc'")]
    [InlineData("fifo", "is a named pipe (FIFO)")]
    [InlineData("link-to-fifo", "is a named pipe (FIFO)")]
    public void Generate_refuses_an_out_that_cannot_be_written_as_a_file(string kind, string message)
    {
        using var dir = new TempDirectory();
        string fifo = SpecialFiles.Fifo(dir.File("pipe"));
        File.CreateSymbolicLink(dir.File("link"), fifo);
        string file = dir.Write("plain.txt", [1, 2, 3]);
        string folder = dir.Sub("images");
        string output = kind switch
        {
            "folder" => folder,
            "folder/" => folder + "/",
            "under-a-file" => Path.Combine(file, "x.png"),
            "empty" => "",
            "proc" => "/proc/accelaes-test.png",
            "fifo" => fifo,
            _ => dir.File("link"),
        };
        var before = FileFingerprints.Of(_model, file);

        Run("generate", "--model", _model, "--steps", "1", "--out", output).AssertRefused(message);

        Assert.Equal(before, FileFingerprints.Of(_model, file));
        Assert.Equal(["images", "link", "pipe", "plain.txt"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Order());
        Assert.Empty(Directory.GetFileSystemEntries(folder));
    }

    [Fact]
    public void Save_mask_a_folder_fails_before_the_image_is_written()
    {
        using var dir = new TempDirectory();
        string image = dir.File("image.png");
        Run("generate", "--model", _model, "--steps", "2", "--accel", "accelaes", "--out", image, "--save-mask", dir.Sub("masks"))
            .AssertRefused("--save-mask", "is a folder");
        Assert.False(File.Exists(image));
    }

    [Fact]
    public void Save_mask_and_out_naming_one_file_are_refused()
    {
        using var dir = new TempDirectory();
        string image = dir.Write("image.png", [42]);
        Run("generate", "--model", _model, "--steps", "2", "--accel", "accelaes", "--out", image, "--save-mask", Path.Combine(dir.Path, ".", "image.png"))
            .AssertRefused("--out and --save-mask both name");
        Assert.Equal([42], File.ReadAllBytes(image));
    }

    [Fact]
    public void Generate_refuses_to_write_over_a_file_of_its_model()
    {
        var before = FileFingerprints.Of(_model);
        Run("generate", "--model", _model, "--steps", "1", "--out", Path.Combine(_model, "model_index.json"))
            .AssertRefused("of --model", "an input of this run");
        Assert.Equal(before, FileFingerprints.Of(_model));
    }

    [Fact]
    public void Forward_refuses_an_out_that_is_its_inputs_or_its_model_weights()
    {
        using var dir = new TempDirectory();
        string inputs = dir.Write("inputs.safetensors", [1, 2, 3, 4]);
        string weights = Path.Combine(_model, "transformer", "diffusion_pytorch_model.safetensors");
        string weightsLink = dir.File("weights-link.safetensors");
        File.CreateSymbolicLink(weightsLink, weights);
        var before = FileFingerprints.Of(_model, inputs);

        Run("forward", "--model", _model, "--inputs", inputs, "--out", inputs).AssertRefused("is --inputs", "an input of this run");
        Run("forward", "--model", _model, "--inputs", inputs, "--out", weights).AssertRefused("of --model", "an input of this run");
        Run("forward", "--model", _model, "--inputs", inputs, "--out", weightsLink).AssertRefused("of --model");

        Assert.Equal(before, FileFingerprints.Of(_model, inputs));
    }

    [Fact]
    public void Denoise_refuses_an_out_that_is_its_inputs()
    {
        using var dir = new TempDirectory();
        string inputs = dir.Write("inputs.safetensors", [5, 6]);
        Run("denoise", "--model", _model, "--inputs", inputs, "--steps", "1", "--guidance", "1", "--out", inputs).AssertRefused("is --inputs");
        Assert.Equal([5, 6], File.ReadAllBytes(inputs));
    }

    [Theory]
    [InlineData("forward")]
    [InlineData("denoise")]
    public void Tensor_outputs_never_replace_a_pipe(string command)
    {
        using var dir = new TempDirectory();
        string fifo = SpecialFiles.Fifo(dir.File("pipe"));
        string inputs = dir.Write("inputs.safetensors", [1]);
        string[] extra = command == "denoise" ? ["--steps", "1", "--guidance", "1"] : [];
        Run([command, "--model", _model, "--inputs", inputs, "--out", fifo, .. extra]).AssertRefused("--out", "named pipe (FIFO)");
        Assert.Equal(["inputs.safetensors", "pipe"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Json_outputs_are_checked_before_the_work_starts()
    {
        using var dir = new TempDirectory();
        string fifo = SpecialFiles.Fifo(dir.File("pipe"));
        Run("bench", "--op", "gemm", "--sizes", "64", "--json", fifo).AssertRefused("--json", "named pipe");
        Run("kernels", "--json", dir.Sub("reports")).AssertRefused("--json", "is a folder");
    }

    [Fact]
    public void Make_tiny_refuses_an_existing_model_folder_without_force_and_a_file()
    {
        var before = FileFingerprints.Of(_model);
        Run("make-tiny", "--arch", "sd3", "--seed", "7", "--out", _model).AssertRefused("already exists and is not empty", "--force");
        Assert.Equal(before, FileFingerprints.Of(_model));

        using var dir = new TempDirectory();
        string file = dir.Write("model", [8]);
        Run("make-tiny", "--arch", "sd3", "--out", file).AssertRefused("is a file, not a folder");
        Assert.Equal([8], File.ReadAllBytes(file));
    }

    [Fact]
    public void Make_tiny_force_replaces_the_folder_as_a_whole()
    {
        using var dir = new TempDirectory();
        string model = setup.Cache.MakeTiny("sd3", dir);
        File.WriteAllText(Path.Combine(model, "transformer", "stale.json"), "{}");

        var r = setup.Cache.Run("make-tiny", "--arch", "sd3", "--dtype", "bf16", "--force", "--out", model);

        Assert.True(r.ExitCode == 0, r.All);
        string transformer = Path.Combine(model, "transformer");
        Assert.Equal(["config.json", "diffusion_pytorch_model.bf16.safetensors"], Directory.GetFiles(transformer).Select(Path.GetFileName).Order());
        Assert.Equal(["sd3"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName)); // no temporary or old sibling left
    }

    [Fact]
    public void A_cache_dir_that_is_a_file_is_named_in_the_error()
    {
        using var dir = new TempDirectory();
        string file = dir.Write("cache", [3]);
        var r = CliRunner.Run(new Dictionary<string, string> { ["ACCELAES_CACHE_DIR"] = file }, "generate", "--steps", "1", "--out", dir.File("x.png"));
        new Outcome(r).AssertRefused("ACCELAES_CACHE_DIR", "is a file, not a folder");
        Assert.Equal([3], File.ReadAllBytes(file));
        Assert.False(File.Exists(dir.File("x.png")));
    }

    [Fact]
    public void Ctrl_c_cancels_generate_with_exit_130_and_leaves_no_file()
    {
        using var dir = new TempDirectory();
        // 5000 steps take many minutes; the denoising loop listens for the cancellation between steps.
        var (exitCode, output) = Interrupt(line => line.Contains("built-in tiny model"), TimeSpan.FromSeconds(3),
            "generate", "--steps", "5000", "--out", dir.File("image.png"));
        Assert.True(exitCode == 130, $"exit {exitCode}:\n{output}");
        Assert.Contains("cancelled", output);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void Ctrl_c_ends_a_command_that_does_not_listen_after_the_grace_period()
    {
        using var dir = new TempDirectory();
        // A micro-benchmark never checks for cancellation: the process ends itself a few seconds after the signal.
        var (exitCode, output) = Interrupt(started: null, TimeSpan.FromSeconds(5),
            "bench", "--op", "gemm", "--sizes", "512", "--repeat", "100000", "--json", dir.File("bench.json"));
        Assert.True(exitCode == 130, $"exit {exitCode}:\n{output}");
        Assert.Contains("cancelled", output); // printed by the program: not a death by the signal itself
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    /// <summary>
    /// Starts accelaes, waits until a line satisfies <paramref name="started"/> (if given; at most 2 minutes) and then
    /// <paramref name="settle"/>, sends SIGINT as Ctrl-C does, and returns the exit code and all output.
    /// </summary>
    private (int ExitCode, string Output) Interrupt(Func<string, bool>? started, TimeSpan settle, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "accelaes.dll"));
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["ACCELAES_CACHE_DIR"] = setup.Cache.Path;
        psi.Environment["COLUMNS"] = "200";
        using var process = Process.Start(psi)!;
        var ready = new TaskCompletionSource();
        var output = new System.Text.StringBuilder();
        void Collect(string? line)
        {
            if (line is null) return;
            lock (output) output.AppendLine(line);
            if (started?.Invoke(line) == true) ready.TrySetResult();
        }
        process.OutputDataReceived += (_, e) => Collect(e.Data);
        process.ErrorDataReceived += (_, e) => Collect(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            if (started is not null) ready.Task.Wait(TimeSpan.FromMinutes(2));
            Thread.Sleep(settle);
            Assert.False(process.HasExited, "accelaes ended before it was interrupted:\n" + output);
            using (var kill = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!)
                kill.WaitForExit();
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "accelaes did not stop after SIGINT:\n" + output);
            process.WaitForExit(); // lets the output events finish
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        lock (output) return (process.ExitCode, output.ToString());
    }
}
