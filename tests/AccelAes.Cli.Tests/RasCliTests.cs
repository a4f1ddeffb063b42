using System.Text.Json;
using AccelAes.Engine.Acceleration;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli.Tests;

/// <summary>`--accel ras` on tiny SD3 and Lumina-Next models (refused on FLUX), `explain --accel ras` and its bench accounting.</summary>
public class RasCliTests(CliCache cache) : IClassFixture<CliCache>
{
    private static readonly string[] Settings = ["--steps", "8", "--width", "64", "--height", "64", "--seed", "3", "--prompt", "a lighthouse at dusk"];

    private CliRunner.Result Generate(string model, string output, params string[] args)
        => cache.Run(["generate", "--model", model, "--out", output, .. Settings, .. args]);

    private static string Schedule(string png)
        => StepSchedule.FromJson(PngText.Read(File.ReadAllBytes(png))["schedule"]).ToLetters();

    /// <summary>
    /// 8 steps of the published 28 (SD3) or 30 (Lumina-Next): start step 1 (step 0 fills the key/value caches), error
    /// resets at steps 3 and 6; 64×64 pixels are 16 tokens. SD3 drops int(0.5·16) = 8 per RAS step, int(8·0.7) = 5
    /// lowest and int(8·0.3) = 2 highest (9 computed); Lumina-Next's dynamic schedule (auto skip_num_step
    /// 256·16/4096 = 1, blocks of 4 steps, middle ((8 + 1) / 4) / 2 = 1) drops 8 − 1 in steps 0–3 and 8 in steps 4–7, all from the top.
    /// </summary>
    [Theory]
    [InlineData("sd3", "16,9,9,16,9,9,16,9")]
    [InlineData("lumina-next", "16,9,9,16,8,8,16,8")]
    public void Ras_reports_its_schedule_and_active_tokens_and_ratio_one_is_the_dense_image(string arch, string active)
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny(arch, dir);
        string ras = dir.File("ras.png"), all = dir.File("all.png"), dense = dir.File("dense.png");
        var r = Generate(model, ras, "--accel", "ras");
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("ras (sample_ratio 0.5) schedule CSSCSSCS", text);
        Assert.Contains($"active tokens per step: {active} of 16", text);
        Assert.Equal("CSSCSSCS", Schedule(ras));
        var record = PngText.Read(File.ReadAllBytes(ras));
        Assert.Equal("ras", record["accel"]);
        Assert.Equal($"[{active}]", record["active_tokens"]);

        r = Generate(model, all, "--accel", "ras", "--set", "sample_ratio=1");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("active tokens per step: 16,16,16,16,16,16,16,16 of 16", CliCache.Flat(r.All));
        Assert.True(Generate(model, dense).ExitCode == 0);
        Assert.Equal(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(all).Rgb);
        Assert.NotEqual(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(ras).Rgb);

        // A knob reaches the run: a later start leaves more dense steps.
        string late = dir.File("late.png");
        r = Generate(model, late, "--accel", "ras", "--set", "scheduler_start_step=5", "--set", "error_reset_steps=none");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal("FFFFCSSS", Schedule(late));
    }

    [Fact]
    public void Ras_is_refused_on_FLUX_and_its_knobs_elsewhere()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("flux", dir);
        var r = Generate(model, dir.File("flux.png"), "--accel", "ras");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("ras: runs on SD3 and Lumina-Next only", CliCache.Flat(r.All));
        r = Generate(model, dir.File("fora.png"), "--accel", "fora", "--set", "sample_ratio=0.3");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("sample_ratio: only --accel ras uses it.", CliCache.Flat(r.All));
    }

    [Fact]
    public void Explain_prints_the_rule_the_knobs_and_the_planned_active_tokens()
    {
        var r = CliRunner.Run("explain", "--arch", "sd3-medium", "--size", "1024", "--accel", "ras");
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("a dynamic policy", text);
        Assert.Contains("high_ratio 0.3", text);
        Assert.Contains("error_reset_steps 12,20", text);

        r = CliRunner.Run("explain", "--arch", "lumina-next", "--size", "1024", "--accel", "ras", "--json");
        Assert.True(r.ExitCode == 0, r.All);
        using var doc = JsonDocument.Parse(r.Output);
        var root = doc.RootElement;
        Assert.Equal("ras", root.GetProperty("policy").GetString());
        Assert.True(root.GetProperty("dynamic").GetBoolean());
        Assert.Equal(4096, root.GetProperty("image_tokens").GetInt32());
        Assert.Equal("4", root.GetProperty("knobs").GetProperty("skip_num_step_length").GetString());
        int[] active = [.. root.GetProperty("active_tokens").EnumerateArray().Select(a => a.GetInt32())];
        // The Lumina-Next script at 1024² (microsoft/RAS scripts/Lumina_Next_T2I_example.sh): 2048 + 256·(k/4 − 4) dropped from the top.
        Assert.Equal(4096 - 1280, active[4]);
        Assert.Equal(4096, active[12]);
        Assert.Equal(4096 - 2816, active[29]);
        Assert.Equal("full_fill_cache", root.GetProperty("schedule")[3].GetString());
    }

    [Fact]
    public void Bench_accounting_counts_a_RAS_step_cheaper_than_a_dense_one()
    {
        using var dir = new TempDirectory();
        string json = Path.Combine(dir.Path, "ras.json");
        var r = CliRunner.Run(["bench", "--arch", "sd3-medium", "--resolution", "512", "--accel", "ras", "--accounting", "--json", json]);
        Assert.True(r.ExitCode == 0, r.All);
        var root = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
        JsonElement Kind(string kind) => root.GetProperty("step_kinds").EnumerateArray().Single(k => k.GetProperty("kind").GetString() == kind);
        Assert.Equal("FFFCSSSSSSSSCSSSSSSSCSSSSSSS", root.GetProperty("schedule").GetString());
        Assert.Equal(22, Kind("Sparse").GetProperty("count").GetInt32());
        double Flops(JsonElement e) => e.GetProperty("gemm_flops").GetDouble();
        Assert.True(Flops(Kind("Sparse")) < 0.75 * Flops(Kind("Full")), $"{Flops(Kind("Sparse"))} vs {Flops(Kind("Full"))}");
        Assert.True(root.GetProperty("speedup_bound").GetProperty("H100 SXM").GetDouble() > 1);
    }
}
