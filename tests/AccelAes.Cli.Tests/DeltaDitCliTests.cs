using System.Text.Json;
using AccelAes.Engine.Acceleration;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli.Tests;

/// <summary>`--accel delta-dit` on the three tiny backbones, `explain --accel delta-dit` and its bench accounting.</summary>
public class DeltaDitCliTests(CliCache cache) : IClassFixture<CliCache>
{
    private static readonly string[] Settings = ["--steps", "8", "--width", "64", "--height", "64", "--seed", "3", "--prompt", "a lighthouse at dusk"];

    private CliRunner.Result Generate(string model, string output, params string[] args)
        => cache.Run(["generate", "--model", model, "--out", output, .. Settings, .. args]);

    private static string Schedule(string png)
        => StepSchedule.FromJson(PngText.Read(File.ReadAllBytes(png))["schedule"]).ToLetters();

    [Theory]
    [InlineData("flux")]
    [InlineData("sd3")]
    [InlineData("lumina-next")]
    public void Each_backbone_runs_the_schedule_and_the_neutral_knobs_give_the_dense_image(string arch)
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny(arch, dir);
        string dense = dir.File("dense.png"), standard = dir.File("delta.png"), every = dir.File("every.png"), none = dir.File("none.png");
        Assert.True(Generate(model, dense).ExitCode == 0);

        var r = Generate(model, standard, "--accel", "delta-dit");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("delta-dit (interval 2, cached_blocks auto (¾ of the blocks), boundary_step 4) schedule FXFXFXFX", CliCache.Flat(r.All));
        Assert.Equal("FXFXFXFX", Schedule(standard));
        var record = PngText.Read(File.ReadAllBytes(standard));
        Assert.Equal("delta-dit", record["accel"]);
        Assert.NotEqual(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(standard).Rgb);

        r = Generate(model, every, "--accel", "delta-dit", "--set", "interval=1");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal("FFFFFFFF", Schedule(every));
        Assert.Equal(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(every).Rgb);

        r = Generate(model, none, "--accel", "delta-dit", "--set", "cached_blocks=0");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal("FFFFFFFF", Schedule(none));
        Assert.Equal(GenerateCliTests.Decode(dense).Rgb, GenerateCliTests.Decode(none).Rgb);
    }

    [Fact]
    public void The_knobs_reach_the_run_and_too_many_cached_blocks_name_the_knob()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("flux", dir); // 2 double + 2 single blocks
        string standard = dir.File("standard.png"), three = dir.File("three.png"), one = dir.File("one.png"), front = dir.File("front.png");
        Assert.True(Generate(model, standard, "--accel", "delta-dit").ExitCode == 0);

        var r = Generate(model, three, "--accel", "delta-dit", "--set", "interval=3");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal("FXXFXXFX", Schedule(three));
        Assert.NotEqual(GenerateCliTests.Decode(standard).Rgb, GenerateCliTests.Decode(three).Rgb);

        r = Generate(model, one, "--accel", "delta-dit", "--set", "cached_blocks=1");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("cached_blocks 1", CliCache.Flat(r.All));
        Assert.NotEqual(GenerateCliTests.Decode(standard).Rgb, GenerateCliTests.Decode(one).Rgb);

        r = Generate(model, front, "--accel", "delta-dit", "--set", "boundary_step=0");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("boundary_step 0", CliCache.Flat(r.All));
        Assert.Equal("FXFXFXFX", Schedule(front));
        Assert.NotEqual(GenerateCliTests.Decode(standard).Rgb, GenerateCliTests.Decode(front).Rgb);

        r = Generate(model, dir.File("bad.png"), "--accel", "delta-dit", "--set", "cached_blocks=5");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("cached_blocks: 5 is more than the model's 4 transformer blocks", CliCache.Flat(r.All));
    }

    [Fact]
    public void Explain_prints_the_whole_schedule_and_the_blocks_each_step_caches()
    {
        var r = CliRunner.Run("explain", "--arch", "flux", "--steps", "6", "--accel", "delta-dit");
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        // FLUX.1: 19 double + 38 single blocks, one range of 57; N_c = ⌊¾·57⌋ = 42, b = 3.
        Assert.Contains("delta-dit (interval 2, cached_blocks 42, boundary_step 3, blocks 57, 6 steps): a static policy; schedule FXFXFX", text);
        Assert.Contains("│ 1 │ X │ 15–56 │", text);
        Assert.Contains("│ 3 │ X │ 0–41 │", text);

        r = CliRunner.Run("explain", "--arch", "sd3-medium", "--steps", "8", "--accel", "delta-dit", "--json",
            "--set", "cached_blocks=6", "--set", "boundary_step=2", "--set", "interval=3");
        Assert.True(r.ExitCode == 0, r.All);
        using var doc = JsonDocument.Parse(r.Output);
        var root = doc.RootElement;
        Assert.Equal(("delta-dit", false, 3, 6, 2, 24), (root.GetProperty("policy").GetString(), root.GetProperty("dynamic").GetBoolean(),
            root.GetProperty("interval").GetInt32(), root.GetProperty("cached_blocks").GetInt32(), root.GetProperty("boundary_step").GetInt32(),
            root.GetProperty("blocks").GetInt32()));
        Assert.Equal("FXXFXXFX", root.GetProperty("schedule").GetString());
        var ranges = root.GetProperty("cached_blocks_per_step").EnumerateArray()
            .Select(e => string.Join("-", e.EnumerateArray().Select(v => v.GetInt32()))).ToArray();
        // Step 1 is before the boundary (rear blocks 18–23: [18, 24)); steps 4, 5 and 7 after it (front blocks [0, 6)).
        Assert.Equal(["", "18-24", "0-6", "", "0-6", "0-6", "", "0-6"], ranges);

        r = CliRunner.Run("explain", "--arch", "lumina-next", "--accel", "delta-dit", "--set", "cached_blocks=25");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("cached_blocks: 25 is more than the model's 24 transformer blocks", CliCache.Flat(r.All));
    }

    [Fact]
    public void Bench_accounting_counts_a_reusing_step_at_the_uncached_blocks_share()
    {
        using var dir = new TempDirectory();
        JsonElement Account(string name, params string[] set)
        {
            string json = Path.Combine(dir.Path, name + ".json");
            var r = CliRunner.Run(["bench", "--arch", "sd3-medium", "--resolution", "512", "--accel", "delta-dit", "--steps", "8", .. set,
                "--accounting", "--json", json]);
            Assert.True(r.ExitCode == 0, r.All);
            return JsonDocument.Parse(File.ReadAllText(json)).RootElement;
        }
        double Gemm(JsonElement root, string kind) => root.GetProperty("step_kinds").EnumerateArray()
            .Single(k => k.GetProperty("kind").GetString() == kind).GetProperty("gemm_flops").GetDouble();

        var standard = Account("standard");
        Assert.Equal("FXFXFXFX", standard.GetProperty("schedule").GetString());
        // SD3 medium: 24 blocks, 18 cached, so a reusing step runs 6 of them (a quarter) plus the embeddings and output layer.
        double share = Gemm(standard, "Skip") / Gemm(standard, "Full");
        Assert.InRange(share, 0.2, 0.32);
        // Half the blocks cached: a reusing step runs half of them.
        var half = Account("half", "--set", "cached_blocks=12");
        Assert.InRange(Gemm(half, "Skip") / Gemm(half, "Full"), 0.45, 0.56);
    }
}
