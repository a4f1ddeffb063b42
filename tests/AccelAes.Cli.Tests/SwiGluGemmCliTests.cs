using System.Text.Json;

namespace AccelAes.Cli.Tests;

/// <summary>
/// <c>--swiglu-gemm auto|fused|split</c> and ACCELAES_SWIGLU_GEMM (issue 16, Fusion 11): the accounting counts the path
/// named (Lumina's silu_mul pass present only on the split path), auto says what it counted and what split adds, and
/// generate records a path other than auto for <c>--from</c>, as it does the fp8 GEMM mode.
/// </summary>
public class SwiGluGemmCliTests(CliCache cache) : IClassFixture<CliCache>
{
    private static (long MemoryBound, long Launches, string Output) Account(string path, string[] options, IReadOnlyDictionary<string, string>? environment = null)
    {
        var r = CliRunner.Run(environment ?? new Dictionary<string, string>(),
            ["bench", "--arch", "lumina-next-sft", "--resolution", "256", "--accounting", "--json", path, .. options]);
        Assert.True(r.ExitCode == 0, r.All);
        var root = JsonDocument.Parse(File.ReadAllText(path)).RootElement;
        return (root.GetProperty("memory_bound_bytes").GetInt64(), root.GetProperty("launches_per_step").GetInt64(), CliCache.Flat(r.Output));
    }

    [Fact]
    public void The_accounting_counts_the_path_the_knob_names()
    {
        using var dir = new TempDirectory();
        var fused = Account(dir.File("fused.json"), ["--swiglu-gemm", "fused"]);
        var split = Account(dir.File("split.json"), ["--swiglu-gemm", "split"]);
        var byVariable = Account(dir.File("env.json"), [], new Dictionary<string, string> { ["ACCELAES_SWIGLU_GEMM"] = "split" });
        var auto = Account(dir.File("auto.json"), ["--swiglu-gemm", "auto"]);

        // 24 feed-forwards: the split path adds one silu_mul launch and its pass each.
        Assert.Equal(24, split.Launches - fused.Launches);
        Assert.True(split.MemoryBound > fused.MemoryBound, $"split {split.MemoryBound} B, fused {fused.MemoryBound} B");
        Assert.Contains("silu_mul_bf16", split.Output);
        Assert.DoesNotContain("silu_mul_bf16", fused.Output);
        Assert.Equal((split.MemoryBound, split.Launches), (byVariable.MemoryBound, byVariable.Launches));
        // Auto is counted as fused, and one line says what split adds.
        Assert.Equal((fused.MemoryBound, fused.Launches), (auto.MemoryBound, auto.Launches));
        Assert.Contains("--swiglu-gemm auto is counted as fused", auto.Output);
        Assert.Contains("24 launches per dense step", auto.Output);
        Assert.DoesNotContain("is counted as fused", fused.Output);
    }

    [Fact]
    public void An_unknown_value_is_refused_naming_the_option_or_variable()
    {
        var r = CliRunner.Run("bench", "--arch", "lumina-next-sft", "--accounting", "--swiglu-gemm", "fast");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("'fast' not recognized", CliCache.Flat(r.All)); // System.CommandLine's wording, the choices after it
        Assert.Contains("'fused'", CliCache.Flat(r.All));
        var e = CliRunner.Run(new Dictionary<string, string> { ["ACCELAES_SWIGLU_GEMM"] = "fast" }, "bench", "--arch", "lumina-next-sft", "--accounting");
        Assert.Equal(1, e.ExitCode);
        Assert.Contains("ACCELAES_SWIGLU_GEMM='fast'", CliCache.Flat(e.All));
    }

    [Fact]
    public void Generate_records_a_path_other_than_auto_and_the_rerun_uses_it()
    {
        using var dir = new TempDirectory();
        string[] quick = ["--steps", "1", "--width", "32", "--height", "32"];
        string split = dir.File("split.png"), rerun = dir.File("rerun.png"), typed = dir.File("typed.png"), auto = dir.File("auto.png"), env = dir.File("env.png");
        Assert.True(cache.Run(["generate", "--out", split, .. quick, "--swiglu-gemm", "split"]) is { ExitCode: 0 }, "generate --swiglu-gemm split");
        Assert.Equal("split", Record(split)["swiglu_gemm"]);

        var r = cache.Run("generate", "--from", split, "--out", rerun);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal("split", Record(rerun)["swiglu_gemm"]);

        r = cache.Run("generate", "--from", split, "--swiglu-gemm", "fused", "--out", typed);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal("fused", Record(typed)["swiglu_gemm"]);
        Assert.Contains("taken from the command line instead: --swiglu-gemm", CliCache.Flat(r.Output));

        r = cache.Run(["generate", "--out", auto, .. quick, "--swiglu-gemm", "auto"]);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.False(Record(auto).ContainsKey("swiglu_gemm"));

        string bad = dir.File("bad.png");
        File.WriteAllBytes(bad, PngChunkEditor.WithValue(File.ReadAllBytes(split), "swiglu_gemm", "fast"));
        r = cache.Run("generate", "--from", bad, "--out", dir.File("bad-out.png"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("'swiglu_gemm' is 'fast'", CliCache.Flat(r.All));
        Assert.Contains("auto, fused or split", CliCache.Flat(r.All));

        var environment = new Dictionary<string, string>(cache.Environment) { ["ACCELAES_SWIGLU_GEMM"] = "fused" };
        r = CliRunner.Run(environment, ["generate", "--out", env, .. quick]);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal("fused", Record(env)["swiglu_gemm"]);
    }

    private static Dictionary<string, string> Record(string png) => PngText.Read(File.ReadAllBytes(png));
}
