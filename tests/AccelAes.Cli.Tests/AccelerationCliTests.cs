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
