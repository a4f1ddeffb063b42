using System.Text.Json;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;

namespace AccelAes.Cli.Tests.Cuda;

/// <summary>
/// `bench --offload sequential` on the CUDA backend: the transformer of a tiny SD3 (three blocks, so two slots cannot
/// hold them all) is built again with its blocks streamed, and the report gives what each residency policy adds per step
/// and the weight stream's bytes and bandwidth. On the CPU emulator the events measure no time: those figures are null
/// and the table says it is not a GPU figure; on a GPU they are measured (positive bandwidth).
/// </summary>
public class BenchOffloadCudaCliTests(CliCache cache) : IClassFixture<CliCache>
{
    [SkippableFact]
    public void Bench_reports_the_time_each_policy_adds_per_step_and_the_upload_bandwidth()
    {
        var detection = CudaDevice.Detect();
        CudaTests.SkipUnless(detection.IsAvailable && NativeLibraries.Load(CudaLibrary.Nvrtc).IsLoaded,
            detection.IsAvailable ? "no NVRTC" : $"no GPU: {detection.Reason}");
        bool emulator = detection.Devices[0].Name.Contains("Emulator", StringComparison.OrdinalIgnoreCase);

        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        string json = dir.File("bench.json");
        // Two builds of the model and a profiling pass: minutes on the emulator of a loaded 2-core machine.
        var r = CliRunner.Run(cache.Environment, TimeSpan.FromMinutes(15), "bench", "--model", model, "--resolution", "32", "--backend", "cuda", "--repeat", "1", "--warmup", "0",
            "--skip-peak", "--offload", "sequential", "--json", json);
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.Output);
        Assert.Contains("adds per step", text);

        var residency = JsonDocument.Parse(File.ReadAllBytes(json)).RootElement.GetProperty("residency");
        var added = residency.GetProperty("added_ms_per_step");
        Assert.Equal(0, added.GetProperty("none").GetDouble());
        Assert.Equal(0, added.GetProperty("encoders").GetDouble());
        Assert.True(residency.GetProperty("pinned_host_bytes").GetInt64() > 0);
        // Each forward uploads every block once: the host bytes, give or take the prefetch of block 0 for the next step.
        double perForward = residency.GetProperty("streamed_bytes_per_forward").GetDouble();
        long host = residency.GetProperty("pinned_host_bytes").GetInt64();
        Assert.InRange(perForward, host, 2.0 * host);
        Assert.True(residency.GetProperty("slot_bytes").GetInt64() < host);
        if (emulator)
        {
            Assert.Equal(JsonValueKind.Null, residency.GetProperty("upload_bytes_per_second").ValueKind);
            Assert.Contains("not a GPU figure", text);
        }
        else
        {
            Assert.True(residency.GetProperty("upload_bytes_per_second").GetDouble() > 0);
        }
    }
}
