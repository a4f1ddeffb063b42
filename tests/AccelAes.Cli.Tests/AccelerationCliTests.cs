using System.Text.Json;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli.Tests;

/// <summary>`accelaes explain` and accelerated sampling from the command line.</summary>
public class AccelerationCliTests
{
    [Fact]
    public void Explain_json_has_the_documented_shape_and_consistent_counts()
    {
        var r = CliRunner.Run("explain", "--arch", "lumina", "--json");
        Assert.True(r.ExitCode == 0, r.All);
        using var doc = JsonDocument.Parse(r.Output);
        var root = doc.RootElement;
        var steps = root.GetProperty("steps").EnumerateArray().ToList();
        Assert.Equal(30, steps.Count);
        Assert.All(steps, s => { _ = s.GetProperty("index").GetInt32(); _ = s.GetProperty("kind").GetString(); _ = s.GetProperty("sigma").GetDouble(); });
        int full = root.GetProperty("full").GetInt32(), sparse = root.GetProperty("sparse").GetInt32(), skipped = root.GetProperty("skipped").GetInt32();
        Assert.Equal(30, full + sparse + skipped);
        Assert.Equal(skipped, steps.Count(s => s.GetProperty("kind").GetString() == "skip"));
        Assert.Equal(sparse, steps.Count(s => s.GetProperty("kind").GetString() == "sparse"));
        double cost = root.GetProperty("relative_cost").GetDouble();
        Assert.InRange(cost, 0.2, 0.99);
        Assert.Equal("full_capture_mask", steps[5].GetProperty("kind").GetString());
    }

    [Theory]
    [InlineData("sd3")]
    [InlineData("flux")]
    [InlineData("lumina")]
    [InlineData("flux-schnell")]
    [InlineData("sd3.5-medium")]
    public void Explain_gives_a_schedule_for_every_preset_at_every_step_count_and_warns_where_a_preset_turns_off(string arch)
    {
        foreach (int n in new[] { 1, 2, 3, 4, 6, 8, 12, 28, 50 })
            foreach (string preset in new[] { "none", "stepcache", "accelaes" })
            {
                var r = CliRunner.Run("explain", "--json", "--arch", arch, "--steps", n.ToString(), "--accel", preset);
                Assert.True(r.ExitCode == 0, $"{arch} {n} {preset}: {r.All}");
                using var doc = JsonDocument.Parse(r.Output); // stdout stays pure JSON; warnings go to stderr
                Assert.Equal(n, doc.RootElement.GetProperty("steps").GetArrayLength());
                bool turnedOff = preset != "none" && n < 8;
                Assert.True(turnedOff == r.Error.Contains("StepCache is off"), $"{arch} {n} {preset}: {r.Error}");
                if (turnedOff) Assert.Contains("computes all", r.Error);
                if (preset != "none" && !turnedOff) Assert.True(doc.RootElement.GetProperty("skipped").GetInt32() > 0);
            }
    }

    [Fact]
    public void A_preset_at_a_few_step_count_generates_densely_with_a_warning()
    {
        using var cache = new CliCache();
        using var dir = new TempDirectory();
        var r = cache.Run("generate", "--out", dir.File("x.png"), "--steps", "3", "--width", "32", "--height", "32", "--accel", "accelaes");
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("AesMask is off", text);
        Assert.Contains("StepCache is off", text);
        Assert.Contains("3 of 3 steps computed", text);
    }

    [Fact]
    public void The_sd3_preset_at_32_pixels_runs_without_its_mask_and_says_why()
    {
        // The SD3 preset's mask is used by nothing (spatial CFG and SkipSparse are off there); a 2 × 2 token grid is
        // too small for its blur, so it turns off with a note instead of failing at the mask step.
        using var cache = new CliCache();
        using var dir = new TempDirectory();
        var r = cache.Run("generate", "--out", dir.File("x.png"), "--steps", "8", "--width", "32", "--height", "32", "--accel", "accelaes");
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("AesMask is off: the token grid of this size, 2 × 2", text);
        Assert.Contains("skipped", text);
    }

    [Fact]
    public void Conflicting_guidance_settings_are_errors_or_warnings_never_silent()
    {
        using var cache = new CliCache();
        using var dir = new TempDirectory();
        // Spatial CFG shapes a CFG that --guidance 1 turns off: an error, before anything loads.
        var off = cache.Run("generate", "--out", dir.File("a.png"), "--guidance", "1", "--set", "spatial_cfg=on", "--accel", "accelaes");
        Assert.Equal(1, off.ExitCode);
        Assert.Contains("spatial_cfg:", CliCache.Flat(off.All));
        Assert.False(File.Exists(dir.File("a.png")));
        // --set steps / guidance are the run's own settings, named as such.
        var steps = cache.Run("generate", "--out", dir.File("b.png"), "--set", "steps=4", "--accel", "accelaes");
        Assert.Equal(1, steps.ExitCode);
        Assert.Contains("--steps", CliCache.Flat(steps.All));
        // A --guidance that spatial CFG replaces from the mask step on is run, with a sentence saying where it applies.
        var shaped = cache.Run("generate", "--out", dir.File("c.png"), "--guidance", "5", "--steps", "8", "--width", "64", "--height", "64",
            "--accel", "accelaes", "--set", "spatial_cfg=on", "--set", "std_threshold=0");
        Assert.True(shaped.ExitCode == 0, shaped.All);
        Assert.Contains("guidance scale 5 applies to steps 0–", CliCache.Flat(shaped.All));
    }

    [Fact]
    public void Explain_states_the_capture_layers_and_the_papers_skip_ratio()
    {
        var r = CliRunner.Run("explain", "--arch", "lumina", "--steps", "30");
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("every 4th layer (layers=every:4", text);
        Assert.Contains("Table 4 quotes ≈ 46 %", text);
        Assert.Contains("StepCache alone with warmup 2 (the reference code's runs), which skips 46.7 % here", text);
        var all = CliCache.Flat(CliRunner.Run("explain", "--arch", "lumina", "--set", "layers=all").All);
        Assert.Contains("every layer (layers=all, the paper's Eq. 6)", all);
    }

    [Fact]
    public void Explain_rejects_an_unknown_knob_naming_it()
    {
        var r = CliRunner.Run("explain", "--arch", "sd3", "--set", "no_such_knob=1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no_such_knob", r.All);
    }

    [GoldenFact]
    public void Denoise_runs_exactly_the_steps_explain_prints()
    {
        using var dir = new TempDirectory();
        // One prompt from the SD3 trajectory golden (an accelerated run builds one mask per prompt).
        var golden = GoldenTensors.Load(GoldenFiles.At("sd3_tiny", "trajectory", "trajectory.safetensors"));
        var writer = new SafeTensorsWriter();
        foreach (var (name, source) in new[] { ("prompt_embeds", "prompt_embeds"), ("pooled_prompt_embeds", "pooled_prompt_embeds"),
                     ("negative_prompt_embeds", "negative_prompt_embeds"), ("negative_pooled_prompt_embeds", "negative_pooled_prompt_embeds"),
                     ("latents", "initial_latents") })
        {
            var g = golden[source];
            int per = g.Values.Length / g.Shape[0];
            writer.Add(name, [1, .. g.Shape.Skip(1).Select(d => (long)d)], g.Values.AsSpan(0, per));
        }
        string inputs = dir.File("inputs.safetensors");
        writer.Save(inputs);
        string[] knobs = ["--accel", "accelaes", "--set", "mask_step=2", "--set", "warmup=2", "--set", "sparse=true", "--set", "spatial_cfg=true"];

        var explain = CliRunner.Run(["explain", "--arch", "sd3", "--steps", "12", "--json", .. knobs]);
        Assert.True(explain.ExitCode == 0, explain.All);
        using var doc = JsonDocument.Parse(explain.Output);
        int[] computed = doc.RootElement.GetProperty("steps").EnumerateArray()
            .Where(s => s.GetProperty("kind").GetString() != "skip").Select(s => s.GetProperty("index").GetInt32()).ToArray();

        var run = CliRunner.Run(["denoise", "--model", GoldenFiles.At("sd3_tiny"), "--inputs", inputs, "--steps", "12", "--guidance", "7",
            "--out", dir.File("out.safetensors"), .. knobs]);
        Assert.True(run.ExitCode == 0, run.All);
        string line = run.Output.Split('\n').Single(l => l.Contains("computed steps"));
        int[] ran = line[(line.IndexOf("computed steps", StringComparison.Ordinal) + "computed steps".Length)..].Trim().Split(' ')[0]
            .Split(',').Select(int.Parse).ToArray();
        Assert.Equal(computed, ran);
        Assert.True(computed.Length < 12);
        Assert.Equal(12, GoldenTensors.Load(dir.File("out.safetensors")).Count);
    }
}
