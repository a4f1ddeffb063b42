using System.Text.Json;
using AccelAes.Engine.Acceleration;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli.Tests;

/// <summary>`--accel teacache`: generate on a tiny FLUX model reports the executed schedule; other backbones are refused; explain prints the rule.</summary>
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
    public void Generate_on_another_backbone_is_refused_naming_FLUX_only(string arch)
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny(arch, dir);
        string output = dir.File("x.png");
        var r = Generate(model, output, "--accel", "teacache");
        Assert.True(r.ExitCode == 1, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("teacache: runs on FLUX only (official coefficients)", text);
        Assert.DoesNotContain("internal error", text);
        Assert.False(File.Exists(output));
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
        Assert.True(r.ExitCode == 1, r.All);
        Assert.Contains("FLUX only (official coefficients)", CliCache.Flat(r.All));
    }
}
