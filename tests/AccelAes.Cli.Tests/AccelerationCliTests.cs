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
