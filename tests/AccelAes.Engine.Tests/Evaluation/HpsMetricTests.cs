using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Evaluation;
using AccelAes.Engine.Evaluation.Clip;
using AccelAes.Engine.Evaluation.Hps;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Loader.OpenClip;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Engine.Tests.Evaluation;

/// <summary>
/// "hps" end to end on a tiny CLIP written as HPSv2 ships its checkpoint (open_clip layout, torch.save format,
/// <c>{"state_dict": …}</c>): the open_clip names, the inferred config, open_clip's tensor-side resize and the cosine.
/// </summary>
public sealed class HpsMetricTests : IDisposable
{
    private static readonly CpuBackend Cpu = new();
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    // The tiny CLIP's heads are 12 and 16 wide, which no released open_clip model has; its config.json keeps
    // transformers' default activation.
    private static readonly OpenClipConfigOverrides TinyOverrides = new(TextHeads: 2, VisionHeads: 2, HiddenAct: "quick_gelu");

    private (string Folder, string Checkpoint) WriteTinyHps()
    {
        string folder = _dir.Sub("clip");
        TinyScorers.WriteClip(folder, seed: 9);
        using var hf = SafeTensorsSet.OpenFile(Path.Combine(folder, "model.safetensors"));
        return (folder, OpenClipFiles.WriteFromTransformers(hf, _dir.File("HPS_v2.1_compressed.pt")));
    }

    private static RgbImage Image(int width, int height, int seed)
    {
        var pixels = new byte[width * height * 3];
        new Random(seed).NextBytes(pixels);
        return new RgbImage(width, height, pixels);
    }

    [Fact]
    public void Hps_is_the_cosine_of_the_open_clip_weights_on_tensor_resized_pixels()
    {
        (string folder, string checkpoint) = WriteTinyHps();
        using ClipScoreMetric hps = HpsMetric.Load(checkpoint, folder, Cpu, TinyOverrides);
        Assert.Equal("hps", hps.Name);

        // The same model from the transformers folder, preprocessed as open_clip's evaluation transform does.
        var model = ClipCheckpoint.LoadModel(folder, Cpu);
        var tokenizer = (ClipTokenizer)TokenizerFactory.FromFolder(folder);
        using var expected = new ClipScoreMetric(model, new TorchvisionClipTransform(32, TorchvisionResizeInput.Tensor),
            p => tokenizer.Encode(p, new TokenizerCall { MaxLength = 77, Truncation = true }).InputIds, "hps");
        RgbImage image = Image(48, 40, 1);
        double score = hps.Score(image, "a cat on a mat");
        Assert.Equal(expected.Score(image, "a cat on a mat"), score, 6);

        // CLIP score on the same weights preprocesses with Pillow and transformers' crop: a different number.
        using var clip = ClipScoreMetric.Load(folder, Cpu);
        Assert.NotEqual(clip.Score(image, "a cat on a mat"), score, 6);
        Assert.NotEqual(score, hps.Score(image, "a red car"), 6);
    }

    [Fact]
    public void The_catalog_needs_a_clip_tokenizer_for_hps_and_takes_it_from_clip_or_hps_tokenizer()
    {
        var e = Assert.Throws<AccelAesException>(() =>
            MetricCatalog.Create(MetricCatalog.Select("hps"), new ScorerFiles(null, null, _dir.File("HPS_v2.1_compressed.pt"), null, Cpu)));
        Assert.Contains("--hps-tokenizer DIR or --clip DIR", e.Message);

        // With a tokenizer named, the checkpoint itself is read (and its absence named).
        var files = new ScorerFiles(null, null, _dir.File("absent.pt"), null, Cpu) { HpsTokenizer = WriteTinyHps().Folder };
        e = Assert.ThrowsAny<AccelAesException>(() => MetricCatalog.Create(MetricCatalog.Select("hps"), files));
        Assert.Contains("absent.pt", e.Message);
    }
}
