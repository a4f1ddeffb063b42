using System.Globalization;
using System.Text.Json;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli.Tests;

/// <summary>
/// `--weights fp8`: generate quantises the transformer's Linear weights at load (the image moves a little, and only
/// with the option), its memory plan counts the smaller weights, and forward refuses it for a non-transformer.
/// </summary>
public class Fp8WeightsCliTests(CliCache cache) : IClassFixture<CliCache>
{
    private static readonly string[] Settings = ["--prompt", "a red cube on a table", "--seed", "5", "--steps", "2", "--width", "32", "--height", "32"];

    private CliRunner.Result Generate(string model, string output, params string[] args) =>
        cache.Run(["generate", "--model", model, "--out", output, .. Settings, .. args]);

    [Theory]
    [InlineData("sd3")]
    [InlineData("flux")]
    [InlineData("lumina-next")]
    public void Fp8_weights_change_the_image_slightly_and_only_when_asked(string arch)
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny(arch, dir);
        string absent = dir.File("absent.png"), stored = dir.File("bf16.png"), fp8 = dir.File("fp8.png");
        foreach (var (path, args) in new[] { (absent, Array.Empty<string>()), (stored, ["--weights", "bf16"]), (fp8, new[] { "--weights", "fp8" }) })
        {
            var r = Generate(model, path, args);
            Assert.True(r.ExitCode == 0, r.All);
        }
        byte[] a = GenerateCliTests.Decode(absent).Rgb, b = GenerateCliTests.Decode(stored).Rgb, q = GenerateCliTests.Decode(fp8).Rgb;
        Assert.Equal(a, b);
        Assert.NotEqual(a, q);
        double meanDiff = a.Zip(q, (x, y) => Math.Abs(x - y)).Average();
        Assert.True(meanDiff < 8, $"fp8 moved the {arch} image by {meanDiff:F2} levels per channel on average");
    }

    [Fact]
    public void The_run_record_keeps_fp8_so_from_reruns_it()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        string fp8 = dir.File("fp8.png"), rerun = dir.File("rerun.png"), stored = dir.File("stored.png");
        Assert.True(Generate(model, fp8, "--weights", "fp8") is { ExitCode: 0 }, "fp8 run failed");
        Assert.True(Generate(model, stored) is { ExitCode: 0 }, "stored run failed");
        var r = cache.Run("generate", "--from", fp8, "--out", rerun);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal(GenerateCliTests.Decode(fp8).Rgb, GenerateCliTests.Decode(rerun).Rgb);
        Assert.NotEqual(GenerateCliTests.Decode(stored).Rgb, GenerateCliTests.Decode(rerun).Rgb);
    }

    private JsonElement Plan(string model, TempDirectory dir, string weights)
    {
        string json = dir.File($"plan-{weights}.json");
        var r = cache.Run("plan", "--model", model, "--width", "32", "--height", "32", "--memory", "1024TiB", "--weights", weights, "--json", json);
        Assert.True(r.ExitCode == 0, r.All);
        return JsonDocument.Parse(File.ReadAllBytes(json)).RootElement.Clone();
    }

    private static long SmallestRunnablePeak(JsonElement plan) =>
        plan.GetProperty("policies").EnumerateArray().Where(p => p.GetProperty("policy").GetString() is "none" or "encoders")
            .Min(p => p.GetProperty("peak_bytes").GetInt64());

    [Fact]
    public void The_memory_plan_of_generate_counts_fp8_weights()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        long fp8Peak = SmallestRunnablePeak(Plan(model, dir, "fp8")), storedPeak = SmallestRunnablePeak(Plan(model, dir, "bf16"));
        Assert.True(fp8Peak < storedPeak, $"fp8 peak {fp8Peak} is not below the stored weights' {storedPeak}");
        string limit = fp8Peak.ToString(CultureInfo.InvariantCulture);

        string refused = dir.File("stored.png");
        var asStored = Generate(model, refused, "--memory", limit);
        Assert.Equal(1, asStored.ExitCode);
        Assert.Contains("It would fit with --weights fp8", CliCache.Flat(asStored.All));
        Assert.False(File.Exists(refused));

        var quantised = Generate(model, dir.File("fp8.png"), "--memory", limit, "--weights", "fp8");
        Assert.True(quantised.ExitCode == 0, quantised.All);
        Assert.Contains("(chosen by the memory plan)", CliCache.Flat(quantised.Output));
    }

    private static double RelativeL2(float[] actual, float[] reference)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            diff += ((double)actual[i] - reference[i]) * ((double)actual[i] - reference[i]);
            norm += (double)reference[i] * reference[i];
        }
        return Math.Sqrt(diff / norm);
    }

    [GoldenFact]
    public void Forward_and_denoise_read_the_weights_option()
    {
        using var dir = new TempDirectory();
        string model = GoldenFiles.At("sd3_tiny"), inputs = GoldenFiles.At("sd3_tiny", "inputs.safetensors");
        float[] Forward(string name, params string[] args)
        {
            var r = cache.Run(["forward", "--model", model, "--inputs", inputs, "--out", dir.File(name), .. args]);
            Assert.True(r.ExitCode == 0, r.All);
            return GoldenTensors.Load(dir.File(name))["sample"].Values;
        }
        float[] stored = Forward("stored.safetensors"), fp8 = Forward("fp8.safetensors", "--weights", "fp8");
        Assert.Equal(stored, Forward("bf16.safetensors", "--weights", "bf16"));
        Assert.InRange(RelativeL2(fp8, stored), 1e-3, 0.12);

        var golden = GoldenTensors.Load(GoldenFiles.At("sd3_tiny", "trajectory", "trajectory.safetensors"));
        var writer = new SafeTensorsWriter();
        foreach (var (name, source) in new[] { ("prompt_embeds", "prompt_embeds"), ("pooled_prompt_embeds", "pooled_prompt_embeds"),
                     ("negative_prompt_embeds", "negative_prompt_embeds"), ("negative_pooled_prompt_embeds", "negative_pooled_prompt_embeds"),
                     ("latents", "initial_latents") })
            writer.Add(name, golden[source].Shape.Select(d => (long)d).ToArray(), golden[source].Values);
        string denoiseInputs = dir.File("denoise-inputs.safetensors");
        writer.Save(denoiseInputs);
        float[] Denoise(string name, params string[] args)
        {
            var r = cache.Run(["denoise", "--model", model, "--inputs", denoiseInputs, "--steps", "4", "--guidance", "7", "--height", "128", "--width", "192",
                "--out", dir.File(name), .. args]);
            Assert.True(r.ExitCode == 0, r.All);
            return GoldenTensors.Load(dir.File(name))["latents_step_3"].Values;
        }
        float[] storedLatents = Denoise("d-stored.safetensors"), fp8Latents = Denoise("d-fp8.safetensors", "--weights", "fp8");
        Assert.InRange(RelativeL2(fp8Latents, storedLatents), 1e-4, 0.15);
    }

    [Fact]
    public void Forward_refuses_fp8_for_a_component_that_is_not_a_transformer()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        string output = dir.File("o.safetensors");
        var r = cache.Run("forward", "--model", model, "--component", "vae", "--inputs", Path.Combine(model, "model_index.json"),
            "--weights", "fp8", "--out", output);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--weights fp8 quantises a transformer's Linear weights; component 'vae' is AutoencoderKL, not a transformer", CliCache.Flat(r.All));
        Assert.False(File.Exists(output));
    }
}
