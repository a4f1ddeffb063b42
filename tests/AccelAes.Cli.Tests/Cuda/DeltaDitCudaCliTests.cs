using AccelAes.Engine.Acceleration;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;
using Xunit.Abstractions;

namespace AccelAes.Cli.Tests.Cuda;

/// <summary>
/// `generate --backend cuda --accel delta-dit` on the tiny FLUX model (the CUDA backend on a GPU, or the CPU emulator):
/// the block ranges cross from the double- to the single-stream blocks on the device, both stages run (4 steps,
/// boundary 2: step 1 caches the rear blocks, step 3 the front ones), and the executed schedule and image are the CPU
/// backend's up to bf16 rounding. Four steps, not the other policies' eight: the emulator runs each step in about half
/// a minute on a loaded machine.
/// </summary>
public class DeltaDitCudaCliTests(CliCache cache, ITestOutputHelper output) : IClassFixture<CliCache>
{
    [SkippableFact]
    public void Delta_dit_on_the_cuda_backend_runs_the_cpu_schedule_and_image()
    {
        var detection = CudaDevice.Detect();
        var nvrtc = NativeLibraries.Load(CudaLibrary.Nvrtc);
        CudaTests.SkipUnless(detection.IsAvailable && nvrtc.IsLoaded,
            detection.IsAvailable ? "no NVRTC: " + nvrtc.Describe() : $"no GPU: {detection.Reason}");

        using var dir = new TempDirectory();
        string model = cache.MakeTiny("flux", dir);
        var environment = new Dictionary<string, string>(cache.Environment);
        if (Environment.GetEnvironmentVariable("ACCELAES_CUDA_LIB_DIR") is { Length: > 0 } lib)
            environment["ACCELAES_CUDA_LIB_DIR"] = lib;
        string[] settings = ["--model", model, "--prompt", "a red cube", "--seed", "5", "--steps", "4", "--width", "32", "--height", "32",
            "--accel", "delta-dit"];
        string gpuImage = dir.File("cuda.png"), cpuImage = dir.File("cpu.png");
        var gpu = CliRunner.Run(environment, ["generate", "--backend", "cuda", "--out", gpuImage, .. settings]);
        output.WriteLine(gpu.All);
        Assert.True(gpu.ExitCode == 0, gpu.All);
        var cpu = CliRunner.Run(environment, ["generate", "--backend", "cpu", "--out", cpuImage, .. settings]);
        Assert.True(cpu.ExitCode == 0, cpu.All);

        string gpuSchedule = PngText.Read(File.ReadAllBytes(gpuImage))["schedule"];
        Assert.Equal(PngText.Read(File.ReadAllBytes(cpuImage))["schedule"], gpuSchedule);
        Assert.Equal("FXFX", StepSchedule.FromJson(gpuSchedule).ToLetters());

        byte[] a = GenerateCliTests.Decode(gpuImage).Rgb, b = GenerateCliTests.Decode(cpuImage).Rgb;
        Assert.Contains(a, v => v != a[0]);
        var diffs = a.Zip(b, (x, y) => Math.Abs(x - y)).ToArray();
        output.WriteLine($"delta-dit on flux, CUDA vs CPU: mean |Δ| {diffs.Average():F3} levels, max |Δ| {diffs.Max()}");
        Assert.True(diffs.Average() < 2.0, $"mean |Δ| {diffs.Average():F3} levels between the CUDA and the CPU image");
        Assert.True(diffs.Count(d => d > 8) <= diffs.Length / 100, $"{diffs.Count(d => d > 8)} channels differ by more than 8 levels");
    }
}
