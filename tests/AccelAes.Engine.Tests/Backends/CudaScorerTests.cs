using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Evaluation;
using AccelAes.Engine.Evaluation.Aesthetic;
using AccelAes.Engine.Evaluation.Clip;
using AccelAes.Engine.Evaluation.Hps;
using AccelAes.Engine.Evaluation.ImageReward;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.OpenClip;
using AccelAes.Loader.SafeTensors;
using Xunit.Abstractions;
using static AccelAes.Engine.Tests.Models.ImageReward.ImageRewardTestModels;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// The scorer models (CLIP image and text towers, the LAION head, HPS's open_clip CLIP, ImageReward's BLIP ViT + BERT)
/// on the CUDA backend against the CPU reference, on tiny random models. The CUDA backend stores activations in bf16
/// (DESIGN.md §4), so scores agree to bf16's precision, not bit for bit: the bound is 0.03 of max(1, |score|), while the
/// scores of two different images differ by more (checked too, so the comparison can fail).
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public sealed class CudaScorerTests(CudaFixture fixture, ITestOutputHelper output) : IClassFixture<CudaFixture>, IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static RgbImage Image(int width, int height, int seed)
    {
        var pixels = new byte[width * height * 3];
        new Random(seed).NextBytes(pixels);
        return new RgbImage(width, height, pixels);
    }

    private void AssertAgrees(Func<IBackend, IImageMetric> load, string prompt)
    {
        CudaTests.SkipUnless(fixture.Backend is not null, fixture.SkipReason);
        using IImageMetric cpu = load(fixture.Cpu), gpu = load(fixture.Backend!);
        RgbImage a = Image(40, 36, 1), b = Image(40, 36, 2);
        double cpuA = cpu.Score(a, prompt), gpuA = gpu.Score(a, prompt), cpuB = cpu.Score(b, prompt);
        output.WriteLine($"{cpu.Name}: cpu {cpuA:G6}, cuda {gpuA:G6}, other image on cpu {cpuB:G6}");
        double bound = 0.03 * Math.Max(1, Math.Abs(cpuA));
        Assert.True(Math.Abs(gpuA - cpuA) <= bound, $"{cpu.Name}: CUDA {gpuA} vs CPU {cpuA} (bound {bound})");
        Assert.True(Math.Abs(cpuB - cpuA) > Math.Abs(gpuA - cpuA), $"{cpu.Name}: the images' scores differ less than the backends'");
    }

    private string TinyClip()
    {
        string folder = _dir.Sub("clip");
        if (!File.Exists(Path.Combine(folder, "config.json"))) TinyScorers.WriteClip(folder, seed: 3);
        return folder;
    }

    [SkippableFact]
    public void Clip_score_on_cuda_matches_the_cpu() => AssertAgrees(be => ClipScoreMetric.Load(TinyClip(), be), "a cat on a mat");

    [SkippableFact]
    public void Aesthetic_on_cuda_matches_the_cpu()
    {
        string head = _dir.File("head.safetensors");
        TinyScorers.WriteAestheticHead(head, seed: 4);
        AssertAgrees(be => AestheticMetric.Load(TinyClip(), head, be), "");
    }

    [SkippableFact]
    public void Hps_on_cuda_matches_the_cpu()
    {
        string folder = TinyClip();
        string checkpoint;
        using (var hf = SafeTensorsSet.OpenFile(Path.Combine(folder, "model.safetensors")))
            checkpoint = OpenClipFiles.WriteFromTransformers(hf, _dir.File("hps.pt"));
        var overrides = new OpenClipConfigOverrides(TextHeads: 2, VisionHeads: 2, HiddenAct: "quick_gelu");
        AssertAgrees(be => HpsMetric.Load(checkpoint, folder, be, overrides), "a cat on a mat");
    }

    [SkippableFact]
    public void ImageReward_on_cuda_matches_the_cpu()
    {
        var tokenizer = Tokenizer(_dir);
        AssertAgrees(be => ImageRewardMetric.Create(new RandomWeightSource(61), TinyConfig(), tokenizer, be), "a red cat on the hill");
    }
}
