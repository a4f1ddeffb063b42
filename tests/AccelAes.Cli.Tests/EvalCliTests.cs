using System.Diagnostics;
using System.Text.Json;
using BigGustave;

namespace AccelAes.Cli.Tests;

/// <summary>
/// One uninterrupted `accelaes eval` on the built-in tiny model (3 prompts × 2 seeds × none, stepcache, accelaes, 8
/// steps at 32×32), shared by the tests that read its outputs and the test that kills and resumes another run.
/// </summary>
public sealed class EvalRunFixture : IDisposable
{
    public CliCache Cache { get; } = new();
    private readonly TempDirectory _dir = new();
    private readonly Lazy<(string Folder, CliRunner.Result Result)> _run;

    public EvalRunFixture() => _run = new(() =>
    {
        string folder = _dir.File("uninterrupted");
        return (folder, Cache.Run(Args(PromptsFile, folder)));
    });

    public string PromptsFile
    {
        get
        {
            string path = _dir.File("prompts.txt");
            if (!File.Exists(path)) File.WriteAllText(path, "a red apple on a wooden table\n\na lighthouse at dusk, cinematic\na cat asleep in the snow\n");
            return path;
        }
    }

    /// <summary>The eval command line of these tests, writing into <paramref name="folder"/>.</summary>
    public static string[] Args(string prompts, string folder, params string[] extra) =>
        ["eval", "--prompts", prompts, "--seeds", "0,1", "--accel", "none,stepcache,accelaes", "--steps", "8", "--width", "32", "--height", "32",
         "--warmup", "0", "--out", folder, .. extra];

    internal (string Folder, CliRunner.Result Result) Uninterrupted => _run.Value;

    public void Dispose()
    {
        _dir.Dispose();
        Cache.Dispose();
    }
}

/// <summary>`accelaes eval` and `accelaes score` end to end, in child processes.</summary>
public class EvalCliTests(EvalRunFixture run) : IClassFixture<EvalRunFixture>
{
    private static JsonElement[] Lines(string folder) =>
        [.. File.ReadAllLines(Path.Combine(folder, "eval.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.Clone())];

    [Fact]
    public void Eval_writes_every_image_with_its_record_a_jsonl_line_each_a_summary_in_the_papers_order_and_a_plot()
    {
        var (folder, r) = run.Uninterrupted;
        Assert.True(r.ExitCode == 0, r.All);
        JsonElement[] lines = Lines(folder);
        Assert.Equal(18, lines.Length);
        Assert.Equal(new[] { "none", "stepcache", "accelaes" }.SelectMany(_ => new[] { 0, 1, 2 }).Count() * 2, lines.Length);
        Assert.Equal(["accelaes", "none", "stepcache"], lines.Select(l => l.GetProperty("method").GetString()).Distinct().Order());
        Assert.Equal(["a cat asleep in the snow", "a lighthouse at dusk, cinematic", "a red apple on a wooden table"],
            lines.Select(l => l.GetProperty("prompt").GetString()).Distinct().Order());
        foreach (JsonElement line in lines)
        {
            string method = line.GetProperty("method").GetString()!;
            string image = Path.Combine(folder, line.GetProperty("image").GetString()!);
            // The PNG carries the run record that regenerates it with `generate --from`.
            var text = PngText.Read(File.ReadAllBytes(image));
            Assert.Equal(method, text["accel"]);
            Assert.Equal(line.GetProperty("seed").GetUInt64().ToString(System.Globalization.CultureInfo.InvariantCulture), text["seed"]);
            Assert.Equal(line.GetProperty("prompt").GetString(), text["prompt"]);
            Assert.Equal("8", text["steps"]);
            Assert.True(line.GetProperty("seconds").GetDouble() > 0);
            Assert.True(line.GetProperty("metrics").GetProperty("edge_density").GetDouble() > 0);
            // Fidelity to dense: only for accelerated images; stepcache skips steps, so its images differ from dense.
            Assert.Equal(method == "none" ? JsonValueKind.Null : JsonValueKind.Number, line.GetProperty("ssim").ValueKind);
            if (method == "stepcache") Assert.InRange(line.GetProperty("psnr").GetDouble(), 1, 99);
        }

        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "summary.json")));
        JsonElement[] methods = [.. summary.RootElement.GetProperty("methods").EnumerateArray()];
        Assert.Equal(["none", "stepcache", "accelaes"], methods.Select(m => m.GetProperty("method").GetString()));
        Assert.Equal(1.0, methods[0].GetProperty("speedup").GetDouble());
        JsonElement vsDense = methods[1].GetProperty("metrics").GetProperty("edge_density").GetProperty("vs_dense");
        Assert.Equal(6, vsDense.GetProperty("pairs").GetInt32());
        Assert.InRange(vsDense.GetProperty("mean").GetDouble(), vsDense.GetProperty("ci_low").GetDouble(), vsDense.GetProperty("ci_high").GetDouble());
        Assert.True(methods[1].GetProperty("speedup").GetDouble() > 1.1, "stepcache computes 5 of 8 steps: " + methods[1]);

        string md = File.ReadAllText(Path.Combine(folder, "summary.md"));
        string header = md.Split('\n')[0];
        Assert.True(header.IndexOf("Time") < header.IndexOf("Speedup") && header.IndexOf("Speedup") < header.IndexOf("Edge")
            && header.IndexOf("Edge") < header.IndexOf("PSNR") && header.IndexOf("PSNR") < header.IndexOf("SSIM"), header);
        Assert.Contains("stepcache", CliCache.Flat(r.Output));
        Assert.Contains("Speedup", CliCache.Flat(r.Output));

        using var plot = File.OpenRead(Path.Combine(folder, "plots", "edge_density.png"));
        Png png = Png.Open(plot);
        Assert.Equal((640, 480), (png.Width, png.Height));
    }

    [Fact]
    public void A_killed_run_resumes_without_regenerating_finished_images_and_ends_with_the_uninterrupted_runs_metrics()
    {
        var (reference, first) = run.Uninterrupted;
        Assert.True(first.ExitCode == 0, first.All);
        using var dir = new TempDirectory();
        string folder = dir.File("killed");
        string ledger = Path.Combine(folder, "eval.jsonl");

        // A real kill (SIGKILL of the whole process tree), once at least 5 images are in the ledger: nothing is flushed or cleaned up.
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "accelaes.dll"));
        foreach (string a in EvalRunFixture.Args(run.PromptsFile, folder)) psi.ArgumentList.Add(a);
        psi.Environment["ACCELAES_CACHE_DIR"] = run.Cache.Path;
        using (var process = Process.Start(psi)!)
        {
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var clock = Stopwatch.StartNew();
            while (!process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(4) && CompleteLines(ledger) < 5) Thread.Sleep(20);
            Assert.False(process.HasExited, "eval finished before it could be killed");
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        string[] before = File.ReadAllText(ledger).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        int finished = CompleteLines(ledger);
        Assert.InRange(finished, 5, 17);
        var finishedImages = before.Take(finished).Select(l => Path.Combine(folder, JsonDocument.Parse(l).RootElement.GetProperty("image").GetString()!))
            .ToDictionary(p => p, p => (File.GetLastWriteTimeUtc(p), File.ReadAllBytes(p)));

        var resumed = run.Cache.Run(EvalRunFixture.Args(run.PromptsFile, folder));
        Assert.True(resumed.ExitCode == 0, resumed.All);
        Assert.Contains($"{finished} finished", CliCache.Flat(resumed.Output));

        // Finished images were not generated again: their files are untouched and their ledger lines (timings included) kept.
        foreach (var (path, (written, bytes)) in finishedImages)
        {
            Assert.Equal(written, File.GetLastWriteTimeUtc(path));
            Assert.Equal(bytes, File.ReadAllBytes(path));
        }
        string[] after = File.ReadAllLines(ledger);
        Assert.Equal(18, after.Length);
        Assert.Equal(before.Take(finished), after.Take(finished));

        // The resumed ledger holds the uninterrupted run's images and metrics (timings aside).
        static Dictionary<string, string> Comparable(JsonElement[] lines) => lines.ToDictionary(
            l => l.GetProperty("key").GetString()!,
            l => $"{l.GetProperty("image")} {l.GetProperty("metrics")} {l.GetProperty("psnr")} {l.GetProperty("ssim")}");
        Assert.Equal(Comparable(Lines(reference)).OrderBy(p => p.Key), Comparable(Lines(folder)).OrderBy(p => p.Key));
    }

    /// <summary>Lines of the ledger that end in a newline (a kill may leave the last one cut).</summary>
    private static int CompleteLines(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path).Count(c => c == '\n') : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    [Fact]
    public void Score_prints_the_metric_eval_recorded_for_the_same_image()
    {
        var (folder, r) = run.Uninterrupted;
        Assert.True(r.ExitCode == 0, r.All);
        JsonElement line = Lines(folder)[1];
        using var dir = new TempDirectory();
        string json = dir.File("scores.json");
        var s = run.Cache.Run("score", "--image", Path.Combine(folder, line.GetProperty("image").GetString()!), "--metrics", "edge_density", "--json", json);
        Assert.True(s.ExitCode == 0, s.All);
        using var scores = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(line.GetProperty("metrics").GetProperty("edge_density").GetDouble(),
            scores.RootElement.GetProperty("metrics").GetProperty("edge_density").GetDouble());
        Assert.Contains("edge_density", s.Output);
    }

    [Fact]
    public void An_eval_image_is_regenerated_bit_for_bit_by_generate_from_its_record()
    {
        var (folder, r) = run.Uninterrupted;
        Assert.True(r.ExitCode == 0, r.All);
        JsonElement line = Lines(folder).First(l => l.GetProperty("method").GetString() == "accelaes");
        string image = Path.Combine(folder, line.GetProperty("image").GetString()!);
        using var dir = new TempDirectory();
        string again = dir.File("again.png");
        var g = run.Cache.Run("generate", "--from", image, "--out", again);
        Assert.True(g.ExitCode == 0, g.All);
        Assert.Equal(GenerateCliTests.Decode(image).Rgb, GenerateCliTests.Decode(again).Rgb);
    }

    [Fact]
    public void A_resume_with_other_settings_is_refused_naming_the_setting()
    {
        var (folder, r) = run.Uninterrupted;
        Assert.True(r.ExitCode == 0, r.All);
        var again = run.Cache.Run(EvalRunFixture.Args(run.PromptsFile, folder, "--guidance", "3"));
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("other settings (guidance: 'default' there, '3' now)", CliCache.Flat(again.All));
    }

    [Theory]
    [InlineData("clip", "metric clip needs --clip DIR")]
    [InlineData("edge_density,aesthetic", "metric aesthetic needs --aesthetic FILE")]
    [InlineData("pickscore", "unknown metric 'pickscore'")]
    public void Model_metrics_without_their_files_are_named_before_anything_is_generated(string metrics, string message)
    {
        using var dir = new TempDirectory();
        var e = run.Cache.Run(EvalRunFixture.Args(run.PromptsFile, dir.File("out"), "--metrics", metrics));
        Assert.Equal(1, e.ExitCode);
        Assert.Contains(message, CliCache.Flat(e.All));
        Assert.False(File.Exists(Path.Combine(dir.File("out"), "eval.jsonl")));
    }

    [Fact]
    public void Score_names_the_scorer_file_a_model_metric_needs()
    {
        var (folder, r) = run.Uninterrupted;
        Assert.True(r.ExitCode == 0, r.All);
        var s = run.Cache.Run("score", "--image", Path.Combine(folder, Lines(folder)[0].GetProperty("image").GetString()!), "--metrics", "hps", "--prompt", "a cat");
        Assert.Equal(1, s.ExitCode);
        Assert.Contains("metric hps needs --hps FILE", CliCache.Flat(s.All));
    }

    [Theory]
    [InlineData("--seeds", "0,x", "--seeds: 'x' is not a seed")]
    [InlineData("--seeds", "1,1", "--seeds names seed 1 twice")]
    [InlineData("--accel", "none,fastest", "fastest")]
    [InlineData("--warmup", "-1", "--warmup is -1; it must be between 0 and")]
    public void Bad_seeds_and_methods_are_named(string option, string value, string message)
    {
        using var dir = new TempDirectory();
        string[] args = ["eval", "--prompts", run.PromptsFile, "--steps", "8", "--out", dir.File("out"), option, value];
        var e = run.Cache.Run(args);
        Assert.Equal(1, e.ExitCode);
        Assert.Contains(message, CliCache.Flat(e.All));
    }
}

/// <summary>The eval options that shape a run, each shown to act: --set, --prompt-column, --warmup.</summary>
public class EvalOptionCliTests(CliCache cache) : IClassFixture<CliCache>
{
    [Fact]
    public void Set_reaches_the_accelerated_method_prompt_column_picks_the_csv_column_and_warmup_runs_first()
    {
        using var dir = new TempDirectory();
        string prompts = dir.Write("prompts.csv", "id,caption,text\n1,\"not this, caption\",\"a blue vase, studio light\"\n"u8.ToArray());
        string folder = dir.File("out");
        // interval=1 makes StepCache skip nothing: its images must then equal dense, bit for bit (PSNR "inf").
        var r = cache.Run("eval", "--prompts", prompts, "--prompt-column", "text", "--seeds", "4", "--accel", "stepcache", "--set", "interval=1",
            "--steps", "8", "--width", "32", "--height", "32", "--warmup", "1", "--out", folder);
        Assert.True(r.ExitCode == 0, r.All);
        var lines = File.ReadAllLines(Path.Combine(folder, "eval.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(["none", "stepcache"], lines.Select(l => l.GetProperty("method").GetString()));
        Assert.All(lines, l => Assert.Equal("a blue vase, studio light", l.GetProperty("prompt").GetString()));
        Assert.All(lines, l => Assert.Equal(4UL, l.GetProperty("seed").GetUInt64()));
        Assert.Equal("inf", lines[1].GetProperty("psnr").GetString());
        Assert.Equal(1.0, lines[1].GetProperty("ssim").GetDouble(), 12);
        var text = PngText.Read(File.ReadAllBytes(Path.Combine(folder, lines[1].GetProperty("image").GetString()!)));
        Assert.Equal("[\"interval=1\"]", text["accel_set"]);
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "summary.json")));
        Assert.Equal(1, summary.RootElement.GetProperty("methods")[1].GetProperty("identical_to_dense").GetInt32());
        Assert.Contains("warm-up", r.Output);
    }
}
