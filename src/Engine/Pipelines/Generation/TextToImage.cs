using AccelAes.Engine.Planning;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;

namespace AccelAes.Engine.Pipelines.Generation;

/// <summary>Opens the text-to-image pipeline a diffusers folder's model_index.json names.</summary>
public static class TextToImage
{
    /// <summary>model_index.json <c>_class_name</c>s that can generate (Lumina's under both of its names).</summary>
    public static IReadOnlyList<string> SupportedPipelines { get; } =
        ["StableDiffusion3Pipeline", "FluxPipeline", .. LuminaPipeline.PipelineClassNames];

    /// <param name="residency">Which components stay on the backend between phases (see <see cref="ComponentResidency"/>).</param>
    /// <param name="weights">Fp8: the transformer's Linear weights quantised at load (<c>--weights fp8</c>); the other components as stored.</param>
    public static ITextToImagePipeline Open(string modelFolder, IBackend backend, string? variant = null, ResidencyPolicy residency = ResidencyPolicy.None,
        WeightPrecision weights = WeightPrecision.AsStored)
        => Open(ModelFolder.Open(modelFolder), backend, variant, residency, weights);

    /// <summary>
    /// The pipeline of <paramref name="folder"/>: a diffusers folder, or a single file composed with a components folder
    /// (<see cref="Loader.SingleFile.SingleFileModel.Open"/>), whose components load from the file.
    /// </summary>
    public static ITextToImagePipeline Open(ModelFolder folder, IBackend backend, string? variant = null, ResidencyPolicy residency = ResidencyPolicy.None,
        WeightPrecision weights = WeightPrecision.AsStored)
    {
        if (folder.IsSingleComponent)
            throw new AccelAesException(
                $"'{folder.Root}' is a single model component; generating an image needs a pipeline folder with model_index.json " +
                "(transformer, vae, text encoders, tokenizers, scheduler).");
        return folder.PipelineClass switch
        {
            "StableDiffusion3Pipeline" => new Sd3TextToImage(folder, backend, variant, residency: residency, weights: weights),
            "FluxPipeline" => new FluxTextToImage(folder, backend, variant, residency: residency, weights: weights),
            "LuminaPipeline" or "LuminaText2ImgPipeline" => new LuminaTextToImage(folder, backend, variant, residency: residency, weights: weights),
            _ => throw new AccelAesException(
                $"{folder.Root}: pipeline '{folder.PipelineClass}' is not supported for generation; supported: {string.Join(", ", SupportedPipelines)}."),
        };
    }
}
