using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;

namespace AccelAes.Cli.Tests;

/// <summary>
/// tools/device-check.sh, the one script a lent GPU machine runs, here with a stand-in `accelaes` (a bash script that
/// prints its arguments, writes a selftest JSON where asked, and sleeps or fails on demand): its syntax, the steps it
/// runs and in which order, the summary it writes (the selftest's cuBLASLt report lines, the FP8 fallback counts), its
/// time budget, and that a failing step fails the script without stopping it.
/// </summary>
public class DeviceCheckScriptTests
{
    /// <summary>The stand-in: STUB_SLEEP seconds per call; exit STUB_FAIL_CODE for a command line containing STUB_FAIL.</summary>
    private const string Stub = """
        #!/usr/bin/env bash
        echo "stub $*"
        prev=""
        for a in "$@"; do
            if [ "$prev" = "--json" ] && [ "$1" = "selftest" ]; then
                printf '{"device": "Stub GPU", "compute_capability": "9.0", "passed": 14, "failed": 0, "ops": [], "models": [],
                 "fp8_gemm": {"summary": "FP8 GEMM: stub offered"},
                 "gated_residual_epilogue": {"summary": "gated-residual epilogue (cuBLASLt alpha vector): stub accepted"}}' > "$a"
            fi
            prev="$a"
        done
        case "$*" in *"--weights fp8"*) echo "warning: FP8 GEMM fallback: one"; echo "warning: FP8 GEMM fallback: two" ;; esac
        [ -n "${STUB_SLEEP:-}" ] && sleep "$STUB_SLEEP"
        if [ -n "${STUB_FAIL:-}" ]; then case "$*" in *"$STUB_FAIL"*) exit "${STUB_FAIL_CODE:-3}" ;; esac; fi
        exit 0
        """;

    private static string Script()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tools", "device-check.sh");
            if (File.Exists(candidate))
                return candidate;
        }
        throw new FileNotFoundException("tools/device-check.sh above " + AppContext.BaseDirectory);
    }

    private static (int ExitCode, string Output) Bash(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) start.ArgumentList.Add(a);
        foreach (var (k, v) in environment) start.Environment[k] = v;
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(120_000), "device-check.sh ran over 2 minutes with the stand-in");
        return (process.ExitCode, stdout + stderr.Result);
    }

    private static Dictionary<string, string> Environment(TempDirectory dir, params (string, string)[] extra)
    {
        string stub = dir.File("accelaes");
        File.WriteAllText(stub, Stub.Replace("\r\n", "\n") + "\n");
        if (!OperatingSystem.IsWindows()) // the script needs bash: Linux (CI, the device machine) or macOS
            File.SetUnixFileMode(stub, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var environment = new Dictionary<string, string> { ["ACCELAES"] = stub, ["DEVICE_CHECK_LOGS"] = dir.Sub("logs") };
        foreach (var (k, v) in extra) environment[k] = v;
        return environment;
    }

    private static string[] StepLines(string summary) =>
        summary.Split('\n').Where(l => l.Length > 0 && !l.StartsWith(' ') && !l.Contains("step(s) failed")).ToArray();

    [Fact]
    public void The_script_parses()
    {
        var (code, output) = Bash(new Dictionary<string, string>(), "-n", Script());
        Assert.True(code == 0, output);
    }

    [Fact]
    public void It_checks_the_fp8_paths_first_and_sums_them_up_in_three_files_of_out()
    {
        using var dir = new TempDirectory();
        string outDir = dir.Sub("out");
        var (code, output) = Bash(Environment(dir), Script(), outDir);
        Assert.True(code == 0, output);

        // Three files (the device machine returns at most 8): the logs travel as one archive.
        string[] files = Directory.GetFiles(outDir).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[] { "device-check-logs.tar.gz", "machine.txt", "summary.txt" }, files);
        string summary = File.ReadAllText(Path.Combine(outDir, "summary.txt"));
        string[] steps = StepLines(summary);
        Assert.StartsWith("selftest-fp8 ", steps[0]);
        Assert.All(steps, s => Assert.Contains(" ok ", s));
        foreach (string step in new[] { "selftest-ops", "generate-fp8-sd3", "generate-fp8-flux", "generate-fp8-lumina-next",
                     "generate-fp8-flux-sequential", "gemm", "flux-dev-sequential", "selftest-models" })
            Assert.Contains(steps, s => s.StartsWith(step + " ", StringComparison.Ordinal));
        // The selftest's cuBLASLt answers and each fp8 generate's fallback count, in the summary.
        Assert.Contains("    FP8 GEMM: stub offered", summary);
        Assert.Contains("    gated-residual epilogue (cuBLASLt alpha vector): stub accepted", summary);
        Assert.Contains("    14 passed, 0 failed on Stub GPU (cc 9.0", summary);
        Assert.Contains("    generate-fp8-flux: 2 FP8 GEMM fallback warning(s)", summary);
        Assert.Contains("0 step(s) failed, 0 skipped for the budget", summary);

        var archived = Unpack(Path.Combine(outDir, "device-check-logs.tar.gz"));
        Assert.Contains("selftest-fp8.json", archived.Keys);
        Assert.Contains("--weights fp8", archived["generate-fp8-lumina-next.log"]);
        Assert.Contains("--offload sequential", archived["generate-fp8-flux-sequential.log"]);
        Assert.Contains("--arch flux-dev --resolution 1024 --offload sequential", archived["flux-dev-sequential.log"]);
        Assert.Contains("selftest --skip-models --filter fp8,", archived["selftest-fp8.log"]);
    }

    [Fact]
    public void A_failing_step_fails_the_script_and_the_budget_skips_what_does_not_fit()
    {
        using var dir = new TempDirectory();
        string outDir = dir.Sub("out");
        var watch = Stopwatch.StartNew();
        var (code, output) = Bash(Environment(dir, ("STUB_SLEEP", "1"), ("STUB_FAIL", "--filter fp8"), ("DEVICE_CHECK_BUDGET", "25")),
            Script(), outDir);
        watch.Stop();
        Assert.True(code == 1, output);

        string summary = File.ReadAllText(Path.Combine(outDir, "summary.txt"));
        string[] steps = StepLines(summary);
        Assert.Matches(@"^selftest-fp8 +FAILED \(exit 3\)", steps[0]);
        Assert.Matches(@"^selftest-ops +ok ", steps[1]); // it goes on after a failure
        // 25 s of budget, a step may start with 20 s left: only the first few run, the rest are listed as skipped.
        int ran = steps.Count(s => !s.Contains("SKIPPED (budget)"));
        Assert.InRange(ran, 2, 8);
        Assert.Contains(steps, s => s.StartsWith("kernels-all ", StringComparison.Ordinal) && s.Contains("SKIPPED (budget)"));
        Assert.Contains($"1 step(s) failed, {steps.Length - ran} skipped for the budget", summary);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(40), $"took {watch.Elapsed}");
    }

    private static Dictionary<string, string> Unpack(string archive)
    {
        var files = new Dictionary<string, string>();
        using var gz = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress);
        using var tar = new TarReader(gz);
        while (tar.GetNextEntry() is { } entry)
        {
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null)
                continue;
            using var reader = new StreamReader(entry.DataStream);
            files[Path.GetFileName(entry.Name)] = reader.ReadToEnd();
        }
        return files;
    }
}
