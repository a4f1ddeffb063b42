using AccelAes.Kernels;
using AccelAes.Kernels.Interop;
using Xunit.Abstractions;

namespace AccelAes.Cli.Tests.Cuda;

/// <summary>
/// `generate --backend cuda --model FILE --components DIR` on an SD3.5-style single file (Stability AI layout, written
/// from the tiny folder by <see cref="SaiSd3FileWriter"/>): the views over the mapped file upload as the folder's tensors
/// do, so the CUDA image equals the folder's CUDA image byte for byte. Skipped where there is no GPU (fails under
/// ACCELAES_REQUIRE_CUDA=1, the build's emulator pass).
/// </summary>
public class SingleFileCudaCliTests(CliCache cache, ITestOutputHelper output) : IClassFixture<CliCache>
{
    [SkippableFact]
    public void A_single_file_on_cuda_generates_the_folder_image()
    {
        var detection = CudaDevice.Detect();
        var nvrtc = NativeLibraries.Load(CudaLibrary.Nvrtc);
        CudaTests.SkipUnless(detection.IsAvailable && nvrtc.IsLoaded,
            detection.IsAvailable ? "no NVRTC: " + nvrtc.Describe() : $"no GPU: {detection.Reason}");

        using var dir = new TempDirectory();
        var environment = new Dictionary<string, string>(cache.Environment);
        if (Environment.GetEnvironmentVariable("ACCELAES_CUDA_LIB_DIR") is { Length: > 0 } lib)
            environment["ACCELAES_CUDA_LIB_DIR"] = lib;
        string folder = cache.MakeTiny("sd35", dir);
        string file = dir.File("sd35.safetensors");
        SaiSd3FileWriter.Write(folder, file, vae: true);
        string[] settings = ["--backend", "cuda", "--prompt", "a red cube on a table", "--seed", "11", "--steps", "2", "--width", "32", "--height", "32"];

        string fromFolder = dir.File("folder.png"), fromFile = dir.File("file.png");
        var a = CliRunner.Run(environment, ["generate", "--model", folder, "--out", fromFolder, .. settings]);
        Assert.True(a.ExitCode == 0, a.All);
        var b = CliRunner.Run(environment, ["generate", "--model", file, "--components", folder, "--out", fromFile, .. settings]);
        output.WriteLine(b.All);
        Assert.True(b.ExitCode == 0, b.All);
        byte[] expected = GenerateCliTests.Decode(fromFolder).Rgb;
        Assert.Contains(expected, v => v != expected[0]); // not a blank (or all-NaN) image
        Assert.Equal(expected, GenerateCliTests.Decode(fromFile).Rgb);
    }
}
