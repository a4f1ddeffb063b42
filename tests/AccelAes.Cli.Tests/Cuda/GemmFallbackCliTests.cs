using System.Runtime.InteropServices;
using System.Text.Json;
using AccelAes.Kernels.Interop;

namespace AccelAes.Cli.Tests.Cuda;

/// <summary>
/// `accelaes selftest` shows what the CUDA backend reports about its GEMM path — a bypassed cuBLASLt, shapes that fell
/// back to gemm.cu — on the console and in --json. Runs on the CPU emulator with its fake cuBLASLt
/// (ACCELAES_CUDA_LIB_DIR from tests/AccelAes.Kernels.Tests/Emulator/build.py), whose FAKE_CUBLASLT_* environment
/// variables the child process's library reads; skipped elsewhere.
/// </summary>
public class GemmFallbackCliTests(CliCache cache) : IClassFixture<CliCache>
{
    private static bool FakeCublasLtLoaded()
    {
        var library = NativeLibraries.Load(CudaLibrary.CublasLt);
        return library.IsLoaded && NativeLibrary.TryGetExport(library.Handle, "fake_cublaslt_configure", out _);
    }

    /// <summary>The cache, no FAKE_CUBLASLT_* from the caller's environment (an empty value removes it), then the one given.</summary>
    private Dictionary<string, string> Environment(string? knob = null, string? value = null)
    {
        var environment = new Dictionary<string, string>(cache.Environment)
        {
            ["FAKE_CUBLASLT_REFUSE"] = "", ["FAKE_CUBLASLT_NO_ALGO"] = "", ["FAKE_CUBLASLT_CREATE_FAILS"] = "", ["FAKE_CUBLASLT_VERSION"] = "",
        };
        if (knob is not null)
            environment[knob] = value!;
        return environment;
    }

    [SkippableTheory]
    [InlineData("FAKE_CUBLASLT_REFUSE", "4", "GEMM fallback: Conv2d", true)]
    [InlineData("FAKE_CUBLASLT_NO_ALGO", "1", "offered no algorithm", true)]
    [InlineData("FAKE_CUBLASLT_CREATE_FAILS", "1", "cuBLASLt bypassed", false)]
    public void Selftest_reports_the_gemm_fallback_on_the_console_and_in_json(string knob, string value, string expected, bool perShape)
    {
        Skip.IfNot(FakeCublasLtLoaded(), "needs the CPU emulator's fake cuBLASLt (ACCELAES_CUDA_LIB_DIR from build.py)");
        using var dir = new TempDirectory();
        string json = dir.File("selftest.json");
        var environment = Environment(knob, value);

        var r = CliRunner.Run(environment, "selftest", "--filter", "Conv2d", "--skip-models", "--seed", "7", "--json", json);

        Assert.True(r.ExitCode == 0, r.All); // a fallback is reported, not a failure: the results still match the CPU
        string console = CliCache.Flat(r.All);
        Assert.Contains("warning: " + (perShape ? "GEMM fallback: Conv2d" : "cuBLASLt bypassed:"), console);
        Assert.Contains(expected, console);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        var warnings = root.GetProperty("warnings").EnumerateArray().Select(w => w.GetString()!).ToList();
        Assert.NotEmpty(warnings);
        Assert.All(warnings, w => Assert.Contains(expected, w));
        Assert.All(warnings, w => Assert.Contains(CliCache.Flat(w), console));
        int fallbacks = root.GetProperty("gemm_fallback_shapes").GetInt32();
        if (perShape)
        {
            // One warning per shape, and every planned shape fell back.
            Assert.Equal(warnings.Count, fallbacks);
            Assert.Equal(root.GetProperty("gemm_shapes").GetInt32(), fallbacks);
            Assert.Contains($"{fallbacks} of {fallbacks} GEMM shapes ran on gemm.cu", console);
        }
        else
        {
            Assert.Single(warnings); // the library as a whole, once
            Assert.StartsWith("gemm.cu", root.GetProperty("gemm").GetString());
        }
    }

    [SkippableFact]
    public void Selftest_without_a_fallback_reports_no_warnings()
    {
        Skip.IfNot(FakeCublasLtLoaded(), "needs the CPU emulator's fake cuBLASLt (ACCELAES_CUDA_LIB_DIR from build.py)");
        using var dir = new TempDirectory();
        string json = dir.File("selftest.json");
        var r = CliRunner.Run(Environment(), "selftest", "--filter", "Conv2d", "--skip-models", "--seed", "7", "--json", json);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.DoesNotContain("warning:", r.All);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Empty(doc.RootElement.GetProperty("warnings").EnumerateArray());
        Assert.Equal(0, doc.RootElement.GetProperty("gemm_fallback_shapes").GetInt32());
        Assert.True(doc.RootElement.GetProperty("gemm_shapes").GetInt32() > 0);
    }

    [SkippableFact]
    public void Generate_on_cuda_says_when_a_bypassed_cublaslt_leaves_its_gemms_to_gemm_cu()
    {
        Skip.IfNot(FakeCublasLtLoaded(), "needs the CPU emulator's fake cuBLASLt (ACCELAES_CUDA_LIB_DIR from build.py)");
        using var dir = new TempDirectory();
        var r = CliRunner.Run(Environment("FAKE_CUBLASLT_CREATE_FAILS", "1"), TimeSpan.FromMinutes(10),
            "generate", "--backend", "cuda", "--steps", "2", "--width", "32", "--height", "32", "--prompt", "a red cube", "--out", dir.File("cube.png"));
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("warning: cuBLASLt bypassed:", CliCache.Flat(r.All));
        Assert.True(File.Exists(dir.File("cube.png")));
    }
}
