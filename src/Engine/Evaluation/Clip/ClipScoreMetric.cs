using AccelAes.Engine.Models.Clip;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Images;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Engine.Evaluation.Clip;

/// <summary>
/// "clip": the cosine of the CLIP image and text features (= the dot product of the L2-normalised embeddings), as the AccelAes evaluation script reports
/// it (open_clip ViT-L-14 / openai = openai/clip-vit-large-patch14; no ×100 and no clamp at 0, unlike torchmetrics'
/// CLIPScore), so good images score about 0.26. The prompt is tokenised by the model folder's CLIP tokenizer,
/// truncated to 77 tokens (begin + 75 + end, as open_clip's tokenize keeps the end token); padding is not needed,
/// the causal mask makes tokens after the end token irrelevant. Text features are cached per prompt, since an
/// evaluation scores several seeds and methods of the same prompt.
/// </summary>
public sealed class ClipScoreMetric : IImageMetric
{
    private const int ContextLength = 77;
    private readonly ClipModel _model;
    private readonly IPixelValuesProcessor _processor;
    private readonly Func<string, int[]> _tokenize;
    private readonly Dictionary<string, float[]> _textFeatures = new(StringComparer.Ordinal);

    /// <param name="tokenize">Prompt → token ids (begin and end tokens included).</param>
    /// <param name="name">The metric's name: HPSv2 is the same cosine on its own CLIP weights (open_clip ViT-H/14 through
    /// an open_clip → CLIPModel renaming source), so it reuses this class as "hps".</param>
    public ClipScoreMetric(ClipModel model, IPixelValuesProcessor processor, Func<string, int[]> tokenize, string name = "clip")
    {
        _model = model;
        _processor = processor;
        _tokenize = tokenize;
        Name = name;
    }

    public string Name { get; }

    public bool UsesPrompt => true;

    /// <summary>
    /// A CLIPModel folder with its tokenizer (vocab.json, merges.txt) and preprocessor_config.json, as
    /// openai/clip-vit-large-patch14 ships; <paramref name="processorPath"/> overrides the preprocessing file.
    /// </summary>
    public static ClipScoreMetric Load(string folder, IBackend backend, string? processorPath = null)
    {
        ClipTokenizer tokenizer = TokenizerIn(folder, "CLIP score");
        ClipModel model = ClipCheckpoint.LoadModel(folder, backend);
        var processor = new ClipImageProcessor(ClipImageProcessorConfig.Load(processorPath ?? folder));
        return new ClipScoreMetric(model, processor, PromptTokens(tokenizer, model));
    }

    /// <summary>The CLIP tokenizer (vocab.json + merges.txt) of <paramref name="folder"/>; <paramref name="metric"/> names who needs it.</summary>
    internal static ClipTokenizer TokenizerIn(string folder, string metric) =>
        TokenizerFactory.FromFolder(folder) as ClipTokenizer
        ?? throw new AccelAesException($"'{folder}' holds no CLIP tokenizer (vocab.json + merges.txt); {metric} needs one to read the prompt.");

    /// <summary>Prompt → ids, truncated to 77 tokens or the model's context if shorter.</summary>
    internal static Func<string, int[]> PromptTokens(ClipTokenizer tokenizer, ClipModel model)
    {
        var call = new TokenizerCall { MaxLength = Math.Min(ContextLength, model.Config.TextConfig.MaxPositionEmbeddings), Truncation = true };
        return prompt => tokenizer.Encode(prompt, call).InputIds;
    }

    public double Score(RgbImage image, string prompt)
    {
        IBackend backend = _model.Backend;
        float[] imageFeatures = backend.Download(_model.GetImageFeatures(_processor.PixelValues(backend, [image])));
        return EmbeddingMath.Cosine(imageFeatures, TextFeatures(prompt, backend));
    }

    public void Dispose() => _textFeatures.Clear();

    private float[] TextFeatures(string prompt, IBackend backend)
    {
        if (_textFeatures.TryGetValue(prompt, out float[]? cached)) return cached;
        int[] tokens = _tokenize(prompt);
        float[] features = backend.Download(_model.GetTextFeatures(new TokenGrid(1, tokens.Length, tokens, "input_ids")));
        _textFeatures[prompt] = features;
        return features;
    }
}
