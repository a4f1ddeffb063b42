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
}
