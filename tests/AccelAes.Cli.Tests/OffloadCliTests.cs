using System.Globalization;
using System.Text.Json;

namespace AccelAes.Cli.Tests;

/// <summary>
/// `generate --offload` and `--memory`: the memory plan made before loading decides the residency policy (auto), a run
/// that fits nowhere is refused before anything loads, and the encoders and sequential policies give the all-resident
/// image. On the CPU backend, where the plan is made only against a typed --memory.
/// </summary>
public class OffloadCliTests(CliCache cache) : IClassFixture<CliCache>
{
    private static readonly string[] Settings = ["--prompt", "a red cube on a table", "--seed", "5", "--steps", "2", "--width", "32", "--height", "32"];

    private CliRunner.Result Generate(string model, string output, params string[] args) =>
        cache.Run(["generate", "--model", model, "--out", output, .. Settings, .. args]);

    [Theory]
    [InlineData("sd3")]
    [InlineData("flux")]
    [InlineData("lumina-next")]
    public void Encoders_offload_loads_the_encoders_only_to_encode_and_writes_the_all_resident_image(string arch)
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny(arch, dir);
        string resident = dir.File("none.png"), offloaded = dir.File("encoders.png");
        var none = Generate(model, resident, "--offload", "none");
        Assert.True(none.ExitCode == 0, none.All);
        var encoders = Generate(model, offloaded, "--offload", "encoders");
        Assert.True(encoders.ExitCode == 0, encoders.All);

        Assert.Equal(GenerateCliTests.Decode(resident).Rgb, GenerateCliTests.Decode(offloaded).Rgb);
        // The knob is read: the offloaded run loads its components inside the generation, in two phases.
        string offloadedText = CliCache.Flat(encoders.Output), residentText = CliCache.Flat(none.Output);
        Assert.Contains("residency encoders (--offload)", offloadedText);
        Assert.Contains("load text encoders", offloadedText);
        Assert.Contains("load transformer and vae", offloadedText);
        Assert.Contains("residency none (--offload)", residentText);
        Assert.DoesNotContain("load text encoders", residentText);
    }

    /// <summary>
    /// On the CPU backend sequential streams nothing (no device), but it is honoured: the plan chooses it when only it
    /// fits, the encoders swap as under encoders, and the image is the all-resident one.
    /// </summary>
    [Fact]
    public void Auto_chooses_sequential_when_only_it_fits_and_writes_the_all_resident_image()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        var plan = Plan(model, dir);
        long encoders = Peak(plan, "encoders"), sequential = Peak(plan, "sequential");
        Assert.True(sequential < encoders, $"sequential peak {sequential} is not below the encoders peak {encoders}");

        string resident = dir.File("none.png"), streamed = dir.File("sequential.png");
        var none = Generate(model, resident, "--offload", "none");
        Assert.True(none.ExitCode == 0, none.All);
        var auto = Generate(model, streamed, "--memory", sequential.ToString(CultureInfo.InvariantCulture));
        Assert.True(auto.ExitCode == 0, auto.All);
        string text = CliCache.Flat(auto.Output);
        Assert.Contains("residency sequential (chosen by the memory plan)", text);
        Assert.Contains("load transformer and vae", text);
        Assert.Equal(GenerateCliTests.Decode(resident).Rgb, GenerateCliTests.Decode(streamed).Rgb);
    }

    /// <summary>The plan `accelaes plan` makes for the same model and settings, as JSON.</summary>
    private JsonElement Plan(string model, TempDirectory dir)
    {
        string json = dir.File("plan.json");
        var r = cache.Run("plan", "--model", model, "--width", "32", "--height", "32", "--memory", "1024TiB", "--json", json);
        Assert.True(r.ExitCode == 0, r.All);
        return JsonDocument.Parse(File.ReadAllBytes(json)).RootElement.Clone();
    }

    private static long Peak(JsonElement plan, string policy) =>
        plan.GetProperty("policies").EnumerateArray().Single(p => p.GetProperty("policy").GetString() == policy).GetProperty("peak_bytes").GetInt64();

    [Fact]
    public void Auto_takes_the_plans_policy_for_the_memory_given_and_refuses_a_run_that_fits_nowhere_before_loading()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        var plan = Plan(model, dir);
        long none = Peak(plan, "none"), encoders = Peak(plan, "encoders");
        Assert.True(encoders < none, $"encoders peak {encoders} is not below the all-resident {none}");

        // Enough for the encoders policy's peak, not for everything resident: auto runs under encoders.
        string fits = dir.File("fits.png");
        var r = Generate(model, fits, "--memory", encoders.ToString(CultureInfo.InvariantCulture));
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("residency encoders (chosen by the memory plan)", CliCache.Flat(r.Output));
        Assert.Contains("load text encoders", r.Output);

        // With room for everything, auto keeps everything resident.
        var roomy = Generate(model, dir.File("roomy.png"), "--memory", none.ToString(CultureInfo.InvariantCulture));
        Assert.True(roomy.ExitCode == 0, roomy.All);
        Assert.Contains("residency none (chosen by the memory plan)", CliCache.Flat(roomy.Output));

        // Below every policy's peak: refused before loading, with the peaks and the way out.
        string refused = dir.File("refused.png");
        var tooSmall = Generate(model, refused, "--memory", "64MiB");
        Assert.Equal(1, tooSmall.ExitCode);
        string text = CliCache.Flat(tooSmall.All);
        Assert.Contains("does not fit in 0.06 GiB (--memory) under any residency policy", text);
        Assert.Contains("nothing was loaded", text);
        Assert.DoesNotContain("load:", text);
        Assert.False(File.Exists(refused));

        // An explicit policy is the user's call: the plan warns, and the run goes ahead.
        var forced = Generate(model, dir.File("forced.png"), "--memory", encoders.ToString(CultureInfo.InvariantCulture), "--offload", "none");
        Assert.True(forced.ExitCode == 0, forced.All);
        Assert.Contains("above", CliCache.Flat(forced.All));
        Assert.Contains("--offload encoders fits", CliCache.Flat(forced.All));
    }

    [Fact]
    public void Without_memory_the_cpu_backend_is_not_planned_and_says_so()
    {
        using var dir = new TempDirectory();
        var r = cache.Run(["generate", "--out", dir.File("cpu.png"), .. Settings]);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("residency none (every component resident); memory not checked", CliCache.Flat(r.Output));
    }
}
