using System.Text.Json;
using AccelAes.Engine.Acceleration;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli.Tests;

/// <summary>
/// `--accel teacache` on FLUX, SD3 and Lumina-Next and `--accel accelaes --set temporal=teacache`: generate reports the
/// executed schedule; explain prints the rule.
/// </summary>
public class TeaCacheCliTests(CliCache cache) : IClassFixture<CliCache>
{
    private static readonly string[] Settings = ["--steps", "8", "--width", "64", "--height", "64", "--seed", "3", "--prompt", "a lighthouse at dusk"];

    private CliRunner.Result Generate(string model, string output, params string[] args)
        => cache.Run(["generate", "--model", model, "--out", output, .. Settings, .. args]);

    private static string Schedule(string png)
        => StepSchedule.FromJson(PngText.Read(File.ReadAllBytes(png))["schedule"]).ToLetters();

    [Fact]
    public void Generate_on_FLUX_reports_the_executed_schedule_and_rel_l1_thresh_decides_it()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("flux", dir);

        // A threshold no accumulated change reaches: every step between the forced first and last reuses the residual.
        string lazy = dir.File("lazy.png");
        var r = Generate(model, lazy, "--accel", "teacache", "--set", "rel_l1_thresh=1000");
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("2 of 8 steps computed", text);
        Assert.Contains("teacache (rel_l1_thresh 1000) schedule FXXXXXXF", text);
        Assert.Equal("FXXXXXXF", Schedule(lazy));
        var record = PngText.Read(File.ReadAllBytes(lazy));
        Assert.Equal("teacache", record["accel"]);

        // Threshold 0 never reuses: the image is the dense one.
        string never = dir.File("never.png"), dense = dir.File("dense.png");
        r = Generate(model, never, "--accel", "teacache", "--set", "rel_l1_thresh=0");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("schedule FFFFFFFF", CliCache.Flat(r.All));
        Assert.Equal("FFFFFFFF", Schedule(never));
        Assert.True(Generate(model, dense).ExitCode == 0);
        Assert.Equal(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(never).Rgb);
        Assert.NotEqual(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(lazy).Rgb);
    }

    [Theory]
    [InlineData("sd3")]
    [InlineData("lumina-next")]
    public void Generate_on_SD3_and_Lumina_reports_the_executed_schedule_and_threshold_zero_is_dense(string arch)
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny(arch, dir);
        string lazy = dir.File("lazy.png"), never = dir.File("never.png"), dense = dir.File("dense.png");
        var r = Generate(model, lazy, "--accel", "teacache", "--set", "rel_l1_thresh=1000");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("teacache (rel_l1_thresh 1000) schedule FXXXXXXF", CliCache.Flat(r.All));
        Assert.Equal("FXXXXXXF", Schedule(lazy));
        r = Generate(model, never, "--accel", "teacache", "--set", "rel_l1_thresh=0");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal("FFFFFFFF", Schedule(never));
        Assert.True(Generate(model, dense).ExitCode == 0);
        Assert.Equal(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(never).Rgb);
        Assert.NotEqual(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(lazy).Rgb);
        // The polynomial is a knob: a constant 2000 passes the threshold 1000 at every step.
        r = Generate(model, dir.File("eager.png"), "--accel", "teacache", "--set", "rel_l1_thresh=1000", "--set", "coefficients=2000");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal("FFFFFFFF", Schedule(dir.File("eager.png")));
    }

    [Fact]
    public void Accelaes_with_temporal_teacache_reports_dense_sparse_and_reused_steps_and_threshold_zero_is_StepCache_off()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        // SD3's preset at 8 steps captures its mask at step 1 (forced to compute, like the first and last steps).
        string lazy = dir.File("lazy.png");
        var r = Generate(model, lazy, "--accel", "accelaes", "--set", "temporal=teacache", "--set", "rel_l1_thresh=1000");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("accelaes, temporal=teacache (rel_l1_thresh 1000) schedule FMXXXXXF: 3 dense, 0 sparse, 5 reused", CliCache.Flat(r.All));
        Assert.Equal("FMXXXXXF", Schedule(lazy));
        Assert.Contains("\"temporal\":\"teacache\"", PngText.Read(File.ReadAllBytes(lazy))["accel_resolved"]);

        string stepCache = dir.File("stepcache.png");
        Assert.True(Generate(model, stepCache, "--accel", "accelaes").ExitCode == 0);
        Assert.NotEqual(Schedule(stepCache), Schedule(lazy));

        string never = dir.File("never.png"), off = dir.File("off.png");
        r = Generate(model, never, "--accel", "accelaes", "--set", "temporal=teacache", "--set", "rel_l1_thresh=0");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.True(Generate(model, off, "--accel", "accelaes", "--set", "interval=1", "--set", "warmup=0").ExitCode == 0);
        Assert.Equal("FMFFFFFF", Schedule(never));
        Assert.Equal(Schedule(off), Schedule(never));
        Assert.Equal(GenerateCliTests.Decode(off).Rgb, GenerateCliTests.Decode(never).Rgb);

        r = Generate(model, dir.File("x.png"), "--accel", "accelaes", "--set", "temporal=teacache", "--set", "interval=2");
        Assert.True(r.ExitCode == 1, r.All);
        Assert.Contains("interval: temporal=teacache decides", CliCache.Flat(r.All));
    }

    [Fact]
    public void Explain_prints_the_rule_not_a_schedule()
    {
        var r = CliRunner.Run("explain", "--arch", "flux", "--steps", "28", "--accel", "teacache", "--set", "rel_l1_thresh=0.4");
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("rel_l1_thresh 0.4", text);
        Assert.Contains("dynamic policy", text);
        Assert.Contains("steps 0 and 27 always compute", text);
        Assert.DoesNotContain("full_capture_mask", text);

        r = CliRunner.Run("explain", "--arch", "flux", "--accel", "teacache", "--json");
        Assert.True(r.ExitCode == 0, r.All);
        using var doc = JsonDocument.Parse(r.Output);
        Assert.Equal("teacache", doc.RootElement.GetProperty("policy").GetString());
        Assert.True(doc.RootElement.GetProperty("dynamic").GetBoolean());
        Assert.Equal(AccelerationOptions.DefaultRelL1Threshold, doc.RootElement.GetProperty("rel_l1_thresh").GetDouble());
        Assert.Equal(5, doc.RootElement.GetProperty("coefficients").GetArrayLength());

        r = CliRunner.Run("explain", "--arch", "sd3", "--accel", "teacache");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("rel_l1_thresh 0.3", CliCache.Flat(r.All));
        Assert.Contains("fitted on the tiny random-weight SD3", CliCache.Flat(r.All));

        r = CliRunner.Run("explain", "--arch", "lumina-next-sft", "--accel", "teacache", "--json");
        Assert.True(r.ExitCode == 0, r.All);
        using var lumina = JsonDocument.Parse(r.Output);
        Assert.Equal(0.3, lumina.RootElement.GetProperty("rel_l1_thresh").GetDouble());
        Assert.Equal(393.76566581, lumina.RootElement.GetProperty("coefficients")[0].GetDouble());
    }

    [Fact]
    public void Explain_accelaes_with_temporal_teacache_prints_the_spatial_plan_and_the_combined_rule()
    {
        var r = CliRunner.Run("explain", "--arch", "sd3", "--steps", "28", "--accel", "accelaes", "--set", "temporal=teacache");
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("temporal=teacache (rel_l1_thresh 0.3)", text);
        Assert.Contains("steps 0 (first), 5 (mask capture), 27 (last) always compute", text);
        Assert.Contains("reuses that sparse forward's residual", text);
        Assert.DoesNotContain("saves nothing", text);
    }
}
