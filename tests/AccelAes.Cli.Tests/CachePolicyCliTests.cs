using System.Text.Json;
using AccelAes.Engine.Acceleration;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli.Tests;

/// <summary>`--accel fbcache` and `--accel fora` on a tiny FLUX model: executed schedule, knobs, dense equality, explain.</summary>
public class CachePolicyCliTests(CliCache cache) : IClassFixture<CliCache>
{
    private static readonly string[] Settings = ["--steps", "8", "--width", "64", "--height", "64", "--seed", "3", "--prompt", "a lighthouse at dusk"];

    private CliRunner.Result Generate(string model, string output, params string[] args)
        => cache.Run(["generate", "--model", model, "--out", output, .. Settings, .. args]);

    private static string Schedule(string png)
        => StepSchedule.FromJson(PngText.Read(File.ReadAllBytes(png))["schedule"]).ToLetters();

    [Fact]
    public void Fbcache_reports_its_executed_schedule_and_its_threshold_decides_it()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("flux", dir);

        // A threshold no residual difference reaches: every step after the first reuses.
        string lazy = dir.File("lazy.png");
        var r = Generate(model, lazy, "--accel", "fbcache", "--set", "residual_diff_threshold=1000");
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("1 of 8 steps computed", text);
        Assert.Contains("fbcache (residual_diff_threshold 1000) schedule FXXXXXXX", text);
        Assert.Equal("FXXXXXXX", Schedule(lazy));
        var record = PngText.Read(File.ReadAllBytes(lazy));
        Assert.Equal("fbcache", record["accel"]);

        // Threshold 0 never reuses: the image is the dense one.
        string never = dir.File("never.png"), dense = dir.File("dense.png");
        r = Generate(model, never, "--accel", "fbcache", "--set", "residual_diff_threshold=0");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal("FFFFFFFF", Schedule(never));
        Assert.True(Generate(model, dense).ExitCode == 0);
        Assert.Equal(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(never).Rgb);
        Assert.NotEqual(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(lazy).Rgb);

        // The default threshold runs too.
        Assert.True(Generate(model, dir.File("default.png"), "--accel", "fbcache").ExitCode == 0);
    }

    [Fact]
    public void Fora_reports_its_schedule_and_interval_one_is_the_dense_image()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("flux", dir);

        string three = dir.File("three.png");
        var r = Generate(model, three, "--accel", "fora");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("fora (interval 3) schedule FFXXFXXF", CliCache.Flat(r.All));
        Assert.Equal("FFXXFXXF", Schedule(three));
        Assert.Equal("fora", PngText.Read(File.ReadAllBytes(three))["accel"]);

        string two = dir.File("two.png");
        r = Generate(model, two, "--accel", "fora", "--set", "interval=2");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal("FFXFXFXF", Schedule(two));

        string one = dir.File("one.png"), dense = dir.File("dense.png");
        r = Generate(model, one, "--accel", "fora", "--set", "interval=1");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal("FFFFFFFF", Schedule(one));
        Assert.True(Generate(model, dense).ExitCode == 0);
        Assert.Equal(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(one).Rgb);
        Assert.NotEqual(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(three).Rgb);
    }

    [Fact]
    public void On_SD3_both_run_with_CFG_and_their_knobs_decide_the_schedule()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        string dense = dir.File("dense.png"), fora = dir.File("fora.png"), lazy = dir.File("lazy.png"), never = dir.File("never.png");
        Assert.True(Generate(model, dense).ExitCode == 0);
        var r = Generate(model, fora, "--accel", "fora", "--set", "interval=1");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("fora (interval 1) schedule FFFFFFFF", CliCache.Flat(r.All));
        Assert.Equal(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(fora).Rgb);
        r = Generate(model, never, "--accel", "fbcache", "--set", "residual_diff_threshold=0");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(never).Rgb);
        r = Generate(model, lazy, "--accel", "fbcache", "--set", "residual_diff_threshold=1000");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal("FXXXXXXX", Schedule(lazy));
        Assert.NotEqual(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(lazy).Rgb);
    }

    [Fact]
    public void Taylorseer_reports_its_schedule_and_interval_one_is_the_dense_image()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("flux", dir);
        string taylor = dir.File("taylor.png"), one = dir.File("one.png"), dense = dir.File("dense.png");
        var r = Generate(model, taylor, "--accel", "taylorseer", "--set", "interval=3");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("taylorseer (interval 3, max_order 1, warmup 3) schedule FFFXXFXX", CliCache.Flat(r.All));
        Assert.Equal("FFFXXFXX", Schedule(taylor));
        Assert.Equal("taylorseer", PngText.Read(File.ReadAllBytes(taylor))["accel"]);
        r = Generate(model, one, "--accel", "taylorseer", "--set", "interval=1");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.True(Generate(model, dense).ExitCode == 0);
        Assert.Equal(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(one).Rgb);
        Assert.NotEqual(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(taylor).Rgb);

        r = CliRunner.Run("explain", "--arch", "flux", "--steps", "28", "--accel", "taylorseer", "--json");
        Assert.True(r.ExitCode == 0, r.All);
        using var doc = JsonDocument.Parse(r.Output);
        Assert.Equal("FFFXXXXXFXXXXXFXXXXXFXXXXXFX", doc.RootElement.GetProperty("schedule").GetString());
        Assert.Equal(AccelerationOptions.DefaultTaylorOrder, doc.RootElement.GetProperty("max_order").GetInt32());
    }

    [Fact]
    public void On_Lumina_Next_each_runs_with_CFG_and_its_knob_decides_the_schedule()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("lumina-next", dir);
        string dense = dir.File("dense.png");
        Assert.True(Generate(model, dense).ExitCode == 0);
        foreach (var (policy, neutral, letters) in new[]
                 {
                     ("fora", "interval=1", "FFFFFFFF"), ("taylorseer", "interval=1", "FFFFFFFF"), ("fbcache", "residual_diff_threshold=0", "FFFFFFFF"),
                 })
        {
            string same = dir.File($"{policy}-dense.png");
            var r = Generate(model, same, "--accel", policy, "--set", neutral);
            Assert.True(r.ExitCode == 0, r.All);
            Assert.Equal(letters, Schedule(same));
            Assert.Equal(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(same).Rgb);
        }
        string lazy = dir.File("lazy.png");
        var lazyRun = Generate(model, lazy, "--accel", "fbcache", "--set", "residual_diff_threshold=1000");
        Assert.True(lazyRun.ExitCode == 0, lazyRun.All);
        Assert.Equal("FXXXXXXX", Schedule(lazy));
        Assert.NotEqual(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(lazy).Rgb);
        string fora = dir.File("fora.png");
        Assert.True(Generate(model, fora, "--accel", "fora").ExitCode == 0);
        Assert.Equal("FFXXFXXF", Schedule(fora));
    }

    [Fact]
    public void Explain_prints_FORAs_whole_schedule_and_FBCaches_rule()
    {
        var r = CliRunner.Run("explain", "--arch", "flux", "--steps", "8", "--accel", "fora", "--set", "interval=2");
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("fora (interval 2, 8 steps): a static policy; schedule FFXFXFXF", text);
        Assert.Contains("5 of 8 steps compute", text);

        r = CliRunner.Run("explain", "--arch", "flux", "--steps", "28", "--accel", "fora", "--json");
        Assert.True(r.ExitCode == 0, r.All);
        using (var doc = JsonDocument.Parse(r.Output))
        {
            Assert.Equal("fora", doc.RootElement.GetProperty("policy").GetString());
            Assert.False(doc.RootElement.GetProperty("dynamic").GetBoolean());
            Assert.Equal(AccelerationOptions.DefaultForaInterval, doc.RootElement.GetProperty("interval").GetInt32());
            Assert.Equal(Enumerable.Range(0, 10).Select(i => 3 * i), doc.RootElement.GetProperty("computed_steps").EnumerateArray().Select(e => e.GetInt32()));
        }

        r = CliRunner.Run("explain", "--arch", "flux", "--accel", "fbcache", "--set", "residual_diff_threshold=0.12");
        Assert.True(r.ExitCode == 0, r.All);
        text = CliCache.Flat(r.All);
        Assert.Contains("fbcache (residual_diff_threshold 0.12, 28 steps): a dynamic policy", text);
        Assert.Contains("mean|r_ref − r| / mean|r_ref| < residual_diff_threshold", text);

        r = CliRunner.Run("explain", "--arch", "flux", "--accel", "fbcache", "--json");
        Assert.True(r.ExitCode == 0, r.All);
        using (var doc = JsonDocument.Parse(r.Output))
        {
            Assert.Equal("fbcache", doc.RootElement.GetProperty("policy").GetString());
            Assert.True(doc.RootElement.GetProperty("dynamic").GetBoolean());
            Assert.Equal(AccelerationOptions.DefaultResidualDiffThreshold, doc.RootElement.GetProperty("residual_diff_threshold").GetDouble());
        }
    }
}
