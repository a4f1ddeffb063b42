using System.Text;
using System.Text.RegularExpressions;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tiny;

namespace AccelAes.Native.Tests;

/// <summary>
/// native/examples/host.c, compiled with gcc against libaccelaes.so and run as a user would: the image it writes,
/// its timings, a cancel from its progress callback, a missing model folder.
/// </summary>
[Collection(NativeCollection.Name)]
public class CHostTests(NativeBuild build)
{
    [SkippableFact]
    public void The_host_writes_the_image_the_managed_engine_generates_and_prints_timings()
    {
        build.Require();
        using var dir = new TempDirectory();
        string output = dir.File("lighthouse.ppm");
        var r = build.Run(build.Host, "--prompt", "a lighthouse at dusk", "--seed", "42", "--steps", "3",
            "--width", "48", "--height", "32", "--out", output, "--quiet");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("StableDiffusion3Pipeline (built-in tiny model", r.Output);
        Assert.Contains("image: 48x32, 3 steps", r.Output);
        Assert.Contains("schedule: FFF\n", r.Output); // accelaes_generate_result.schedule: a dense run
        foreach (string phase in new[] { "load", "encode", "denoise", "decode", "total" })
            Assert.Matches(new Regex($@"(?m)^{phase}\s+\d+\.\d{{3}} s$"), r.Output);
        Assert.False(File.Exists(output + ".tmp"));

        var (width, height, rgb) = Ppm.Read(output);
        Assert.Equal((48, 32), (width, height));
        Assert.Contains(rgb, b => b != rgb[0]); // not one flat colour

        // The same request through the managed engine, on the model the library wrote into the cache. The CPU backend
        // is deterministic, but the JIT (this process) and NativeAOT (the library) compile it differently (instruction
        // set, vector widths), so the last bit of a float can differ, and after rounding to 8 bits a few channel values
        // move by one level. Anything more is a real difference: another seed changes most of the image.
        string model = Path.Combine(build.CacheDir, "builtin", BuiltInModel.Name);
        using var backend = new CpuBackend();
        var pipeline = TextToImage.Open(model, backend);
        byte[] Managed(ulong seed)
        {
            var image = pipeline.Generate(new GenerationRequest { Prompt = "a lighthouse at dusk", Seed = seed, Steps = 3, Width = 48, Height = 32 }).Image;
            Assert.Equal((48, 32), (image.Width, image.Height));
            return image.Pixels;
        }
        byte[] expected = Managed(42);
        Assert.Equal(expected.Length, rgb.Length);
        int differing = Enumerable.Range(0, rgb.Length).Count(i => rgb[i] != expected[i]);
        int largest = Enumerable.Range(0, rgb.Length).Max(i => Math.Abs(rgb[i] - expected[i]));
        Assert.True(largest <= 1 && differing <= rgb.Length / 100,
            $"the C host's image differs from the managed engine's: {differing} of {rgb.Length} channel values, by up to {largest}");

        byte[] otherSeed = Managed(43);
        Assert.True(Enumerable.Range(0, rgb.Length).Count(i => rgb[i] != otherSeed[i]) > rgb.Length / 2,
            "seed 43 should give another image: the comparison above would not notice a wrong image");
    }

    [SkippableFact]
    public void A_cancel_from_the_progress_callback_stops_the_host_and_writes_no_image()
    {
        build.Require();
        using var dir = new TempDirectory();
        string output = dir.File("cancelled.ppm");
        var r = build.Run(build.Host, "--steps", "4", "--width", "32", "--height", "32", "--cancel-at", "2", "--out", output);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("accelaes_generate: ACCELAES_ERR_CANCELLED: Cancelled by the progress callback.", r.Error);
        Assert.Contains("denoise  2/4", r.Error);
        Assert.DoesNotContain("denoise  3/4", r.Error);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [SkippableFact]
    public void A_missing_model_folder_is_not_found_and_named()
    {
        build.Require();
        using var dir = new TempDirectory();
        string missing = dir.File("no-such-model");
        var r = build.Run(build.Host, "--model", missing, "--out", dir.File("x.ppm"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"accelaes_model_load: ACCELAES_ERR_NOT_FOUND: Model folder '{missing}' does not exist.", r.Error);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [SkippableFact]
    public void An_unknown_knob_is_an_invalid_argument_naming_it()
    {
        build.Require();
        using var dir = new TempDirectory();
        var r = build.Run(build.Host, "--accel", "stepcache", "--set", "warp_speed=9", "--out", dir.File("x.ppm"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("accelaes_image_size: ACCELAES_ERR_INVALID_ARGUMENT: Unknown acceleration knob 'warp_speed'", r.Error);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }
}

/// <summary>
/// native/tests/abi_test.c: each case checks one part of the contract from C and prints one "ok - ..." or "FAIL - ..."
/// line per check; its exit code is the number of failures.
/// </summary>
[Collection(NativeCollection.Name)]
public class CAbiContractTests(NativeBuild build)
{
    [SkippableTheory]
    [InlineData("version", 50)]
    [InlineData("bad-options", 65)]
    [InlineData("cancel", 22)]
    [InlineData("handles", 45)]
    [InlineData("threads", 30)]
    [InlineData("mask", 40)]
    public void The_abi_contract_holds_from_C(string testCase, int minimumChecks)
    {
        build.Require();
        Check(build.Run(build.AbiTest, testCase), minimumChecks);
    }

    [SkippableFact]
    public void Bad_model_folders_are_reported_with_their_path()
    {
        build.Require();
        using var dir = new TempDirectory();
        string notModel = dir.Sub("just-a-folder");
        File.WriteAllText(Path.Combine(notModel, "readme.txt"), "not a model");
        Check(build.Run(build.AbiTest, "bad-folder", dir.File("missing"), notModel), 18);
    }

    [SkippableFact]
    public void A_schnell_folder_reports_and_uses_its_model_cards_defaults()
    {
        build.Require();
        using var dir = new TempDirectory();
        string folder = dir.File("flux-schnell");
        AccelAes.Engine.Tiny.TinyModels.Write("flux-schnell", folder, seed: 1);
        Check(build.Run(build.AbiTest, "schnell", folder), 12);
    }

    [SkippableFact]
    public void A_single_file_with_its_components_loads_and_generates_the_folder_image()
    {
        build.Require();
        using var dir = new TempDirectory();
        string folder = dir.File("sd3");
        AccelAes.Engine.Tiny.TinyModels.Write("sd3", folder, seed: 1);
        string file = dir.File("sd3-tiny.safetensors");
        SaiSd3FileWriter.Write(folder, file, vae: true);
        Check(build.Run(build.AbiTest, "single-file", file, folder, dir.File("missing.safetensors")), 20);
    }

    [SkippableFact]
    public void The_weights_option_quantises_to_fp8_at_load_for_folders_and_files()
    {
        build.Require();
        using var dir = new TempDirectory();
        string folder = dir.File("sd3");
        AccelAes.Engine.Tiny.TinyModels.Write("sd3", folder, seed: 1);
        string file = dir.File("sd3-tiny.safetensors");
        SaiSd3FileWriter.Write(folder, file, vae: true);
        Check(build.Run(build.AbiTest, "fp8", file, folder), 14);
    }

    private static void Check(ProcessResult r, int minimumChecks)
    {
        string log = r.All;
        Assert.DoesNotContain("FAIL", log);
        Assert.True(r.ExitCode == 0, $"abi_test exited with {r.ExitCode}:\n{log}");
        Assert.Contains("0 failure(s)", r.Output);
        // A case that stopped early (or checked nothing) must not pass.
        int ok = Regex.Matches(r.Output, "(?m)^ok - ").Count;
        Assert.True(ok >= minimumChecks, $"only {ok} checks ran, expected at least {minimumChecks}:\n{log}");
    }

    [SkippableFact]
    public void The_library_exports_exactly_the_functions_the_header_declares()
    {
        build.Require();
        string header = File.ReadAllText(Path.Combine(build.RepoRoot, "native", "include", "accelaes.h"));
        var declared = Regex.Matches(header, @"ACCELAES_API[^;(]*?\b(accelaes_\w+)\s*\(")
            .Select(m => m.Groups[1].Value).Order(StringComparer.Ordinal).ToArray();
        var nm = ProcessResult.Run("nm", ["-D", "--defined-only", build.Library], build.BuildDir, [], TimeSpan.FromMinutes(1));
        Assert.True(nm.ExitCode == 0, nm.All);
        var exported = Regex.Matches(nm.Output, @"(?m)\s[TtWi]\s+(accelaes_\w+)(@@?\S+)?$")
            .Select(m => m.Groups[1].Value).Order(StringComparer.Ordinal).ToArray();
        Assert.True(declared.Length >= 13, string.Join(", ", declared));
        Assert.Equal(declared, exported);
    }
}

/// <summary>Binary PPM (P6) as host.c writes it: "P6\n{width} {height}\n255\n" then the RGB bytes.</summary>
internal static class Ppm
{
    public static (int Width, int Height, byte[] Rgb) Read(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        int pos = 0;
        string Token()
        {
            while (char.IsWhiteSpace((char)file[pos])) pos++;
            int start = pos;
            while (!char.IsWhiteSpace((char)file[pos])) pos++;
            return Encoding.ASCII.GetString(file, start, pos - start);
        }
        Assert.Equal("P6", Token());
        int width = int.Parse(Token()), height = int.Parse(Token());
        Assert.Equal("255", Token());
        pos++; // the single whitespace byte before the pixels
        Assert.Equal(width * height * 3, file.Length - pos);
        return (width, height, file[pos..]);
    }
}
