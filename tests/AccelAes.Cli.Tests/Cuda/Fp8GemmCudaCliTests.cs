using AccelAes.Kernels;
using AccelAes.Kernels.Interop;
using Xunit.Abstractions;

namespace AccelAes.Cli.Tests.Cuda;

/// <summary>
/// `generate --weights fp8 --backend cuda` on a tiny FLUX, on an FP8 card (the emulator at FAKE_CUDA_CC=9.0, passed to
/// the child; a real GPU runs it as the card it is): <c>--fp8-gemm off</c> dequantises the weights (the CPU's fp8 image
/// up to bf16 rounding, the rule of every CUDA image); <c>--fp8-gemm on</c> runs the FP8 GEMM, which also rounds the
/// activations to e4m3, so its image differs from <c>off</c>'s and is held to the README's looser FP8 rule against the CPU.
/// </summary>
public class Fp8GemmCudaCliTests(CliCache cache, ITestOutputHelper output) : IClassFixture<CliCache>
{
    private static readonly string[] Settings =
        ["--prompt", "a red cube on a table", "--seed", "5", "--steps", "2", "--width", "32", "--height", "32", "--weights", "fp8"];

    [SkippableFact]
    public void Fp8_gemm_on_and_off_give_images_close_to_the_cpus_fp8_image()
    {
        var detection = CudaDevice.Detect();
        var nvrtc = NativeLibraries.Load(CudaLibrary.Nvrtc);
        CudaTests.SkipUnless(detection.IsAvailable && nvrtc.IsLoaded,
            detection.IsAvailable ? "no NVRTC: " + nvrtc.Describe() : $"no GPU: {detection.Reason}");
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("flux", dir);
        var environment = new Dictionary<string, string>(cache.Environment) { ["FAKE_CUDA_CC"] = "9.0" };
        if (Environment.GetEnvironmentVariable("ACCELAES_CUDA_LIB_DIR") is { Length: > 0 } lib)
            environment["ACCELAES_CUDA_LIB_DIR"] = lib;

        string cpu = dir.File("cpu.png"), off = dir.File("off.png"), on = dir.File("on.png");
        var runs = new[] { (cpu, new[] { "--backend", "cpu" }), (off, ["--backend", "cuda", "--fp8-gemm", "off"]), (on, ["--backend", "cuda", "--fp8-gemm", "on"]) };
        foreach (var (path, args) in runs)
        {
            var r = CliRunner.Run(environment, ["generate", "--model", model, "--out", path, .. Settings, .. args]);
            output.WriteLine(r.All);
            Assert.True(r.ExitCode == 0, r.All);
            Assert.DoesNotContain("FP8 GEMM fallback", CliCache.Flat(r.All));
        }
        byte[] reference = GenerateCliTests.Decode(cpu).Rgb, dequantised = GenerateCliTests.Decode(off).Rgb, fp8Gemm = GenerateCliTests.Decode(on).Rgb;
        Assert.NotEqual(dequantised, fp8Gemm); // the knob is obeyed: the FP8 GEMM rounds the activations too

        double offMean = reference.Zip(dequantised, (a, b) => Math.Abs(a - b)).Average();
        double onMean = reference.Zip(fp8Gemm, (a, b) => Math.Abs(a - b)).Average();
        output.WriteLine($"vs the CPU's fp8 image: --fp8-gemm off mean |Δ| {offMean:F3} levels, on {onMean:F3} levels");
        Assert.True(offMean < 2.0, $"dequantised: mean |Δ| {offMean:F3} levels (the bf16 rule)");
        Assert.True(onMean < 4.0, $"FP8 GEMM: mean |Δ| {onMean:F3} levels (the README's FP8 rule)");
    }
}
