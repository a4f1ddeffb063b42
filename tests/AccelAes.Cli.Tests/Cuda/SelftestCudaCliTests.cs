using System.Text.Json;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;

namespace AccelAes.Cli.Tests.Cuda;

/// <summary>`accelaes selftest` on the CUDA backend (a GPU, or the CPU emulator of the build's CUDA pass).</summary>
public class SelftestCudaCliTests(CliCache cache) : IClassFixture<CliCache>
{
    [SkippableFact]
    public void SkipOps_runs_the_model_forwards_alone_and_reports_the_versions_first()
    {
        var detection = CudaDevice.Detect();
        var nvrtc = NativeLibraries.Load(CudaLibrary.Nvrtc);
        CudaTests.SkipUnless(detection.IsAvailable && nvrtc.IsLoaded,
            detection.IsAvailable ? "no NVRTC: " + nvrtc.Describe() : $"no GPU: {detection.Reason}");
        using var dir = new TempDirectory();
        string json = dir.File("selftest.json");

        // The filter names op checks too (Linear): only --skip-ops keeps them out.
        var r = CliRunner.Run(cache.Environment, TimeSpan.FromMinutes(10),
            "selftest", "--skip-ops", "--filter", "Linear,sd3/transformer", "--seed", "3", "--json", json);

        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("CUDA driver", r.All);
        Assert.Contains("kernels for", r.All);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Empty(doc.RootElement.GetProperty("ops").EnumerateArray());
        var model = Assert.Single(doc.RootElement.GetProperty("models").EnumerateArray());
        Assert.Equal("Forward[sd3/transformer]", model.GetProperty("name").GetString());
        Assert.True(doc.RootElement.GetProperty("driver_version").GetInt32() > 0);
    }

    /// <summary>
    /// The fp8 cases alone at an emulated sm_90 (the fake cuBLASLt runs the FP8 GEMM): they pass, and selftest says
    /// whether cuBLASLt offered an FP8 algorithm and accepted the gated-residual epilogue, in its output and its JSON.
    /// </summary>
    [SkippableFact]
    public void The_fp8_checks_report_whether_cublaslt_offered_an_fp8_algorithm()
    {
        var detection = CudaDevice.Detect();
        var nvrtc = NativeLibraries.Load(CudaLibrary.Nvrtc);
        CudaTests.SkipUnless(detection.IsAvailable && nvrtc.IsLoaded,
            detection.IsAvailable ? "no NVRTC: " + nvrtc.Describe() : $"no GPU: {detection.Reason}");
        using var dir = new TempDirectory();
        string json = dir.File("selftest.json");
        var environment = new Dictionary<string, string>(cache.Environment) { ["FAKE_CUDA_CC"] = "9.0" };
        if (Environment.GetEnvironmentVariable("ACCELAES_CUDA_LIB_DIR") is { Length: > 0 } lib)
            environment["ACCELAES_CUDA_LIB_DIR"] = lib;

        var r = CliRunner.Run(environment, TimeSpan.FromMinutes(10), "selftest", "--skip-models", "--filter", "fp8", "--seed", "4", "--json", json);

        Assert.True(r.ExitCode == 0, r.All);
        string flat = CliCache.Flat(r.All);
        Assert.Contains("FP8 GEMM: cuBLASLt offered an FP8 algorithm for all 5 shapes", flat);
        Assert.Contains("gated-residual epilogue (cuBLASLt alpha vector): accepted for all 1 shapes", flat);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal(14, root.GetProperty("ops").GetArrayLength());
        Assert.True(root.GetProperty("fp8_gemm").GetProperty("offered").GetBoolean());
        Assert.Equal(5, root.GetProperty("fp8_gemm").GetProperty("matmuls").GetInt32());
        Assert.True(root.GetProperty("gated_residual_epilogue").GetProperty("accepted").GetBoolean());
        Assert.All(root.GetProperty("ops").EnumerateArray().Where(o => o.GetProperty("op").GetString() == "Linear[FP8 GEMM]"),
            o => Assert.EndsWith("ran as FP8 GEMM", o.GetProperty("case").GetString()));
    }
}
