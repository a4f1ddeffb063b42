using AccelAes.Engine.Models.ImageReward;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Files;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Engine.Evaluation.ImageReward;

/// <summary>
/// ImageReward-v1.0 as a metric: <c>ImageReward.score(prompt, image)</c> of ImageReward/ImageReward.py (THUDM/ImageReward
/// c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb). The prompt is tokenized with <c>padding='max_length', truncation=True,
/// max_length=35</c>, the image goes through <see cref="TorchvisionClipTransform"/> (Pillow resampling, as on the PIL image), and the model returns the normalised reward.
/// </summary>
public sealed class ImageRewardMetric : IImageMetric
{
    public const string MetricName = "imagereward";

    /// <summary>ImageReward's BERT config, published beside ImageReward.pt; read when it sits beside the checkpoint.</summary>
    public const string MedConfigFile = "med_config.json";

    /// <summary>
    /// Tensors of the published state dict that the score does not use: BLIP_Pretrain's contrastive projections, and
    /// BertEmbeddings' <c>position_ids</c> buffer (an arange) where the checkpoint saved it.
    /// </summary>
    public static IReadOnlyList<string> UnusedByScore { get; } =
    [
        "blip.vision_proj.weight", "blip.vision_proj.bias", "blip.text_proj.weight", "blip.text_proj.bias",
        "blip.text_encoder.embeddings.position_ids",
    ];

    private readonly ImageRewardModel _model;
    private readonly BertWordPieceTokenizer _tokenizer;
    private readonly TorchvisionClipTransform _transform;
    private readonly IBackend _backend;
    private readonly IDisposable? _owned;

    private ImageRewardMetric(ImageRewardModel model, BertWordPieceTokenizer tokenizer, IBackend backend,
        IReadOnlyList<string> unexpected, IDisposable? owned)
    {
        _model = model;
        _tokenizer = tokenizer;
        _backend = backend;
        _transform = new TorchvisionClipTransform(model.Config.Vision.ImageSize, TorchvisionResizeInput.PilImage);
        UnexpectedTensors = unexpected;
        _owned = owned;
    }

    public string Name => MetricName;

    public bool UsesPrompt => true;

    public ImageRewardConfig Config => _model.Config;

    /// <summary>Checkpoint tensors neither the model nor <see cref="UnusedByScore"/> accounts for (ImageReward loads with strict=False).</summary>
    public IReadOnlyList<string> UnexpectedTensors { get; }

    /// <summary>
    /// Loads a checkpoint with ImageReward.pt's key names, opened by <see cref="SafeTensorsSet.OpenFile"/> (safetensors, and
    /// once the restricted PyTorch reader is in, the published ImageReward.pt itself), and a tokenizer folder holding
    /// bert-base-uncased's <c>vocab.txt</c>. The config is read off the tensor shapes, with <c>med_config.json</c> beside
    /// the checkpoint when there is one.
    /// </summary>
    public static ImageRewardMetric Load(string checkpointPath, string tokenizerDirectory, IBackend backend)
    {
        ArgumentNullException.ThrowIfNull(checkpointPath);
        ArgumentNullException.ThrowIfNull(backend);
        BertWordPieceTokenizer tokenizer = BertWordPieceTokenizer.FromFolder(tokenizerDirectory);
        SafeTensorsSet set = SafeTensorsSet.OpenFile(checkpointPath);
        try
        {
            IReadOnlyList<long>? ShapeOf(string name) => set.TryGet(name, out SafeTensorInfo? info) ? info.Shape : null;
            string? folder = Path.GetDirectoryName(Path.GetFullPath(checkpointPath));
            string medPath = Path.Combine(folder ?? ".", MedConfigFile);
            JsonConfig? med = InputFile.Exists(medPath) ? JsonConfig.Load(medPath) : null;
            return Create(new SafeTensorsWeightSource(set, checkpointPath), ShapeOf, med, tokenizer, backend, owned: set);
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Builds the metric from any weight source with ImageReward.pt's key names; <paramref name="shapeOf"/> gives a tensor's
    /// shape (null when absent) for reading the config off the checkpoint.
    /// </summary>
    public static ImageRewardMetric Create(IWeightSource weights, Func<string, IReadOnlyList<long>?> shapeOf, JsonConfig? medConfig,
        BertWordPieceTokenizer tokenizer, IBackend backend, IDisposable? owned = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ImageRewardConfig config = ImageRewardConfig.Infer(shapeOf, weights.Description, medConfig);
        return Create(weights, config, tokenizer, backend, owned);
    }

    /// <summary>Builds the metric for an explicit <paramref name="config"/> (tiny test models).</summary>
    public static ImageRewardMetric Create(IWeightSource weights, ImageRewardConfig config, BertWordPieceTokenizer tokenizer, IBackend backend,
        IDisposable? owned = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (tokenizer.VocabularySize > config.Text.VocabSize)
            throw new AccelAesException(
                $"ImageReward: the tokenizer in '{tokenizer.Source}' has {tokenizer.VocabularySize} ids (vocab.txt plus [DEC] and [ENC]), " +
                $"more than the text encoder's {config.Text.VocabSize} word embeddings; is it bert-base-uncased's vocab.txt?");
        var reader = new WeightReader(weights, backend);
        var model = new ImageRewardModel(reader, config);
        IReadOnlyList<string> unexpected = reader.UnusedTensors().Where(n => !UnusedByScore.Contains(n)).ToList();
        return new ImageRewardMetric(model, tokenizer, backend, unexpected, owned);
    }

    public double Score(RgbImage image, string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        TokenizedPrompt tokens = _tokenizer.Encode(prompt, TokenizerCall.PaddedTo(Config.MaxTextLength));
        int size = Config.Vision.ImageSize;
        Tensor pixels = _backend.Upload(_transform.Apply(image), new Shape(1, 3, size, size));
        var ids = new TokenGrid(1, tokens.Length, tokens.InputIds);
        var mask = new TokenGrid(1, tokens.Length, tokens.AttentionMask, "attention_mask");
        return _model.Score(pixels, ids, mask)[0];
    }

    public void Dispose() => _owned?.Dispose();
}
