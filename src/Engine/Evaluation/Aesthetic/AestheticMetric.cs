using AccelAes.Engine.Evaluation.Clip;
using AccelAes.Engine.Models.Clip;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Images;

namespace AccelAes.Engine.Evaluation.Aesthetic;

/// <summary>
/// "aesthetic": the LAION improved aesthetic predictor v2 (simple_inference.py) — CLIP ViT-L/14 image features
/// (<c>encode_image</c> = CLIPVisionModelWithProjection's <c>image_embeds</c>), L2-normalised as its
/// <c>normalized()</c> does, through <see cref="LaionAestheticMlp"/>. Scores are on the AVA 1–10 scale (≈ 5–7 for
/// generated images). Does not read the prompt.
/// </summary>
public sealed class AestheticMetric : IImageMetric
{
    private readonly ClipVisionModelWithProjection _imageTower;
    private readonly ClipImageProcessor _processor;
    private readonly LaionAestheticMlp _head;

    public AestheticMetric(ClipVisionModelWithProjection imageTower, ClipImageProcessor processor, LaionAestheticMlp head)
    {
        if (head.InputSize != imageTower.Config.ProjectionDim)
            throw new AccelAesException(
                $"The aesthetic head takes {head.InputSize}-wide embeddings but the CLIP image tower gives {imageTower.Config.ProjectionDim} (projection_dim); " +
                "the published head needs CLIP ViT-L/14 (openai/clip-vit-large-patch14).");
        _imageTower = imageTower;
        _processor = processor;
        _head = head;
    }

    public string Name => "aesthetic";

    public bool UsesPrompt => false;

    /// <summary>
    /// <paramref name="clipFolder"/>: a CLIPModel or CLIPVisionModelWithProjection folder (its preprocessor_config.json,
    /// or <paramref name="processorPath"/>); <paramref name="headPath"/>: the head's weights file (see <see cref="ScorerWeights"/>).
    /// </summary>
    public static AestheticMetric Load(string clipFolder, string headPath, IBackend backend, string? processorPath = null)
    {
        ClipVisionModelWithProjection tower = ClipCheckpoint.LoadImageTower(clipFolder, backend);
        var processor = new ClipImageProcessor(ClipImageProcessorConfig.Load(processorPath ?? clipFolder));
        LaionAestheticMlp head = ScorerWeights.With(headPath, source => LoadHead(source, backend, tower.Config.ProjectionDim));
        return new AestheticMetric(tower, processor, head);
    }

    /// <summary>The head from any weight source (a .safetensors file, a PyTorch checkpoint once it can be read).</summary>
    public static LaionAestheticMlp LoadHead(IWeightSource source, IBackend backend, int inputSize)
        => new(new WeightReader(source, backend), inputSize);

    public double Score(RgbImage image, string prompt)
    {
        IBackend backend = _head.Backend;
        Tensor features = _imageTower.Forward(_processor.PixelValues(backend, [image])).ImageEmbeds!;
        return ScoreEmbeddings(backend.Download(features))[0];
    }

    /// <summary>Un-normalised image embeddings (rows of the CLIP width) → one score per row: normalise, then the MLP.</summary>
    public float[] ScoreEmbeddings(ReadOnlySpan<float> imageEmbeds)
    {
        IBackend backend = _head.Backend;
        int rows = imageEmbeds.Length / _head.InputSize;
        Tensor normalized = backend.Upload(EmbeddingMath.NormalizedRows(imageEmbeds, _head.InputSize), new Shape(rows, _head.InputSize));
        return backend.Download(_head.Forward(normalized));
    }

    public void Dispose() { }
}
