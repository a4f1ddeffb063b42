using System.Text.Json;

namespace AccelAes.Cli.Tests;

/// <summary>
/// `accelaes bench --arch A --accounting --accel fbcache|fora|taylorseer|teacache`: each caching policy's step kinds counted
/// through the model's split forward, the step mix (static schedules; a dynamic policy's --schedule) and the mix against dense.
/// </summary>
public class BenchPolicyAccountingCliTests
{
    private static JsonElement Account(TempDirectory dir, string name, params string[] options)
    {
        string json = Path.Combine(dir.Path, name + ".json");
        var r = CliRunner.Run(["bench", .. options, "--accounting", "--json", json]);
        Assert.True(r.ExitCode == 0, r.All);
        return JsonDocument.Parse(File.ReadAllText(json)).RootElement;
    }

    private static JsonElement Kind(JsonElement root, string kind) =>
        root.GetProperty("step_kinds").EnumerateArray().Single(k => k.GetProperty("kind").GetString() == kind);

    private static double Flops(JsonElement e) => e.GetProperty("gemm_flops").GetDouble() + e.GetProperty("attention_flops").GetDouble();

    [Theory]
    [InlineData("flux-dev", "fbcache")]
    [InlineData("flux-dev", "teacache")]
    [InlineData("flux-dev", "fora")]
    [InlineData("flux-dev", "taylorseer")]
    [InlineData("sd3-medium", "fbcache")]
    [InlineData("sd3-medium", "fora")]
    [InlineData("lumina-next", "taylorseer")]
    public void Each_policy_reports_a_computing_and_a_cheaper_reusing_step(string arch, string policy)
    {
        using var dir = new TempDirectory();
        var root = Account(dir, policy, "--arch", arch, "--resolution", "512", "--accel", policy);
        var compute = Kind(root, "Full");
        var reuse = Kind(root, "Skip");
        // A computing step runs every block: at least the dense step's GEMM work (plus the policy's own bookkeeping).
        Assert.True(compute.GetProperty("gemm_flops").GetDouble() >= root.GetProperty("gemm_flops").GetDouble() * 0.999,
            $"{compute.GetProperty("gemm_flops")} vs dense {root.GetProperty("gemm_flops")}");
        Assert.True(Flops(reuse) < Flops(compute) / 5, $"reuse {Flops(reuse)} vs compute {Flops(compute)} FLOPs");
        Assert.True(reuse.GetProperty("launches").GetInt64() < compute.GetProperty("launches").GetInt64());
        Assert.True(reuse.GetProperty("roofline_ms").GetProperty("H100 SXM").GetDouble()
                    < compute.GetProperty("roofline_ms").GetProperty("H100 SXM").GetDouble());
        Assert.True(reuse.GetProperty("launches").GetInt64() > 0, "a reusing step still runs the embeddings and the output layer");
    }

    [Fact]
    public void Fora_interval_changes_the_mix_and_its_speedup_bound()
    {
        using var dir = new TempDirectory();
        var published = Account(dir, "fora3", "--arch", "sd3-medium", "--resolution", "512", "--accel", "fora", "--steps", "12");
        var every2 = Account(dir, "fora2", "--arch", "sd3-medium", "--resolution", "512", "--accel", "fora", "--steps", "12", "--set", "interval=2");
        // FORA computes the first step and every step whose countdown (steps − 1 − k) is a multiple of the interval.
        Assert.Equal("FXFXXFXXFXXF", published.GetProperty("schedule").GetString());
        Assert.Equal("FFXFXFXFXFXF", every2.GetProperty("schedule").GetString());
        Assert.Equal(5, Kind(published, "Full").GetProperty("count").GetInt32());
        Assert.Equal(7, Kind(every2, "Full").GetProperty("count").GetInt32());
        double Bound(JsonElement e) => e.GetProperty("speedup_bound").GetProperty("H100 SXM").GetDouble();
        Assert.True(Bound(published) > Bound(every2), $"{Bound(published)} vs {Bound(every2)}");
        Assert.True(Bound(every2) > 1);
        // The mix's FLOPs per step lie between a reusing and a computing step's, weighted by the schedule.
        double mix = Flops(published.GetProperty("mix_per_step"));
        double expected = (5 * Flops(Kind(published, "Full")) + 7 * Flops(Kind(published, "Skip"))) / 12;
        Assert.Equal(expected, mix, expected * 1e-6);
    }

    [Fact]
    public void A_dynamic_policy_reports_its_kinds_only_until_given_a_schedule()
    {
        using var dir = new TempDirectory();
        string json = Path.Combine(dir.Path, "open.json");
        var r = CliRunner.Run("bench", "--arch", "flux-dev", "--resolution", "512", "--accel", "teacache", "--accounting", "--json", json);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("decides each step at run time", CliCache.Flat(r.Output));
        var open = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
        Assert.True(open.GetProperty("mix_decided_at_run_time").GetBoolean());
        Assert.Equal(JsonValueKind.Null, open.GetProperty("mix_per_step").ValueKind);
        Assert.Equal(0, Kind(open, "Skip").GetProperty("count").GetInt32());

        var mostlyReused = Account(dir, "few", "--arch", "flux-dev", "--resolution", "512", "--accel", "teacache", "--schedule", "FXXXFXXXXF");
        var mostlyComputed = Account(dir, "many", "--arch", "flux-dev", "--resolution", "512", "--accel", "teacache", "--schedule", "FFFFFFXFFF");
        Assert.False(mostlyReused.GetProperty("mix_decided_at_run_time").GetBoolean());
        Assert.Equal(10, mostlyReused.GetProperty("steps").GetInt32());
        Assert.Equal("FXXXFXXXXF", mostlyReused.GetProperty("schedule").GetString());
        Assert.Equal(3, Kind(mostlyReused, "Full").GetProperty("count").GetInt32());
        Assert.Equal(7, Kind(mostlyReused, "Skip").GetProperty("count").GetInt32());
        double Bound(JsonElement e) => e.GetProperty("speedup_bound").GetProperty("H100 SXM").GetDouble();
        Assert.True(Bound(mostlyReused) > 2 * Bound(mostlyComputed), $"{Bound(mostlyReused)} vs {Bound(mostlyComputed)}");
    }

    [Theory]
    [InlineData("teacache", "FXQF", "'Q' at step 2")]
    [InlineData("teacache", "XFF", "step 0 always computes")]
    [InlineData("teacache", "FFX", "always computes its last step")]
    [InlineData("fora", "FXF", "--schedule gives the mix of a dynamic policy")]
    public void A_schedule_the_policy_cannot_execute_is_refused(string policy, string letters, string message)
    {
        var r = CliRunner.Run("bench", "--arch", "flux-dev", "--resolution", "256", "--accel", policy, "--accounting", "--schedule", letters);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains(message, CliCache.Flat(r.All));
    }

    [Fact]
    public void Schedule_and_steps_must_agree_and_teacache_counts_on_sd3_too()
    {
        var mismatch = CliRunner.Run("bench", "--arch", "flux-dev", "--resolution", "256", "--accel", "fbcache", "--accounting",
            "--schedule", "FXF", "--steps", "4");
        Assert.NotEqual(0, mismatch.ExitCode);
        Assert.Contains("--schedule has 3 steps", CliCache.Flat(mismatch.All));
        // TeaCache runs on SD3 with its fitted polynomial: its accounting counts a schedule given by letters.
        var sd3 = CliRunner.Run("bench", "--arch", "sd3-medium", "--resolution", "256", "--accel", "teacache", "--accounting",
            "--schedule", "FXFF", "--steps", "4");
        Assert.True(sd3.ExitCode == 0, sd3.All);
        Assert.Contains("TeaCache schedule of 4 steps: FXFF", CliCache.Flat(sd3.All));
    }

    [Fact]
    public void Policies_and_their_options_are_refused_where_nothing_would_count_them()
    {
        var timed = CliRunner.Run("bench", "--arch", "flux-dev", "--layers", "1", "--resolution", "64", "--accel", "fora");
        Assert.NotEqual(0, timed.ExitCode);
        Assert.Contains("add --accounting to count a caching policy's steps", CliCache.Flat(timed.All));
        var knobOnStepCache = CliRunner.Run("bench", "--arch", "sd3-medium", "--resolution", "256", "--accel", "stepcache", "--accounting",
            "--set", "interval=2");
        Assert.NotEqual(0, knobOnStepCache.ExitCode);
        Assert.Contains("--set tunes a caching policy's knobs here", CliCache.Flat(knobOnStepCache.All));
    }
}
