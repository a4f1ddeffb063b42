using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models.ImageReward;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Engine.Tests.Models.ImageReward;

/// <summary>Tiny ImageReward configs, random weights and a hand-written BERT vocabulary for the tests.</summary>
internal static class ImageRewardTestModels
{
    public static readonly CpuBackend Cpu = new();

    /// <summary>
    /// ViT 12 wide (3 heads) over an 8×8 image in 4×4 patches, BERT 8 wide (2 heads): the vision width differs from
    /// the text width, so cross-attention's key/value must read encoder_width.
    /// </summary>
    public static ImageRewardConfig TinyConfig(double visionEps = 1e-6, double textEps = 1e-12, double mean = ImageRewardConfig.PublishedMean,
        double std = ImageRewardConfig.PublishedStd) => new(
        new BlipVisionConfig(ImageSize: 8, PatchSize: 4, Width: 12, Depth: 2, Heads: 3, MlpHidden: 20, LayerNormEps: visionEps),
        new BlipTextConfig(VocabSize: 24, HiddenSize: 8, Layers: 2, Heads: 2, IntermediateSize: 16, MaxPositionEmbeddings: 12,
            EncoderWidth: 12, LayerNormEps: textEps),
        [8, 7, 6, 5, 4, 1], mean, std, MaxTextLength: 10);

    /// <summary>22 vocabulary lines + [DEC] + [ENC] = the tiny text encoder's 24 ids.</summary>
    public static readonly string[] Vocab =
    [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "photo", "of", "red", "cat", "on",
        "hill", "dog", "the", "##s", ",", "!", "blue", "sky", "under", "tree", "green",
    ];

    public static BertWordPieceTokenizer Tokenizer(TempDirectory dir)
    {
        TempDirectory.WriteText(dir.Path, BertWordPieceTokenizer.VocabFile, string.Join("\n", Vocab) + "\n");
        return BertWordPieceTokenizer.FromFolder(dir.Path);
    }

    /// <summary>The values a random source generated, by name (after a model has requested them).</summary>
    public static IReadOnlyDictionary<string, float[]> ValuesOf(RandomWeightSource source)
        => source.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value.Values);

    public static (ImageRewardModel Model, NaiveImageReward Naive) ModelAndNaive(ImageRewardConfig config, int seed)
    {
        var source = new RandomWeightSource(seed);
        var model = new ImageRewardModel(new WeightReader(source, Cpu), config);
        return (model, new NaiveImageReward(ValuesOf(source), config));
    }
}
