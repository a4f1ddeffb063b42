using AccelAes.Engine.Evaluation;
using AccelAes.Engine.Evaluation.Clip;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Files;
using AccelAes.Loader.Images;

namespace AccelAes.Engine.Components;

/// <summary>
/// An image file given in place of a component's <c>pixel_values</c> (<c>accelaes forward --image</c>): decoded and
/// preprocessed as transformers' CLIPImageProcessor would, with the settings of <c>--processor</c>, else the
/// component folder's preprocessor_config.json, else a pipeline's <c>feature_extractor/</c> (where diffusers keeps
/// the processor of its image encoder).
/// </summary>
public static class ImageInput
{
    public const string InputName = "pixel_values";

    /// <summary>Where the preprocessing settings come from; an error lists the places looked at when none has them.</summary>
    public static ClipImageProcessorConfig ResolveProcessor(string? processorOption, string componentFolder, string? pipelineRoot)
    {
        if (processorOption is not null)
        {
            if (InputFile.KindOf(processorOption) is not (FileEntryKind.RegularFile or FileEntryKind.Directory))
                throw new AccelAesException($"--processor {processorOption}: no such file or folder.");
            return ClipImageProcessorConfig.Load(processorOption);
        }
        var candidates = new List<string> { Path.Combine(componentFolder, ClipImageProcessorConfig.FileName) };
        if (pipelineRoot is not null) candidates.Add(Path.Combine(pipelineRoot, "feature_extractor", ClipImageProcessorConfig.FileName));
        foreach (string candidate in candidates)
            if (InputFile.Exists(candidate)) return ClipImageProcessorConfig.Load(candidate);
        throw new AccelAesException(
            $"--image needs the preprocessing settings: none of {string.Join(", ", candidates.Select(c => $"'{c}'"))} exists; pass --processor FILE (a preprocessor_config.json).");
    }

    /// <summary>
    /// Reads and preprocesses <paramref name="imagePath"/> into pixel_values [1, 3, H, W], checked against the shape
    /// <paramref name="component"/> declares, so a processor whose crop does not fit the model is named as the cause.
    /// </summary>
    public static Tensor PixelValues(IComponentForward component, string imagePath, ClipImageProcessorConfig processor, IBackend backend)
    {
        ForwardInput declared = component.Inputs.FirstOrDefault(i => i.Name == InputName)
            ?? throw new AccelAesException($"--image: {component.ClassName} takes no {InputName}; its inputs are {string.Join(", ", component.Inputs.Select(i => i.Name))} (give them with --inputs).");
        var image = RgbImageFile.Read(imagePath, "--image");
        Tensor pixels = new ClipImageProcessor(processor).PixelValues(backend, [image]);
        string? expected = declared.Pattern?.Match(pixels.Shape, $"--image {pixels.Shape}", []);
        if (expected is not null)
            throw new AccelAesException(
                $"--image: {processor.Source} preprocesses '{imagePath}' to {pixels.Shape}, but {component.ClassName} takes {InputName} {expected}; " +
                "pass --processor with a preprocessor_config.json whose crop_size matches the model's image_size.");
        return pixels;
    }
}
