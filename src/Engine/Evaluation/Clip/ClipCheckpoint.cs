using AccelAes.Engine.Models.Clip;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Evaluation.Clip;

/// <summary>
/// Loads the CLIP models the scorers use from a transformers folder (config.json + model*.safetensors): a full
/// <c>CLIPModel</c> (openai/clip-vit-large-patch14) or a <c>CLIPVisionModelWithProjection</c>. The image tower of a
/// CLIPModel has the same key names as CLIPVisionModelWithProjection (<c>vision_model.*</c>, <c>visual_projection</c>),
/// so either folder gives image features.
/// </summary>
public static class ClipCheckpoint
{
    /// <summary>A <c>CLIPModel</c> folder → text and image towers with their projections.</summary>
    public static ClipModel LoadModel(string folder, IBackend backend)
    {
        var component = ComponentFolder.Open(folder, null);
        if (component.ClassName != ClipConfig.ModelClass)
            throw new AccelAesException($"{component.Config.FilePath}: CLIP score needs a CLIPModel (text and image towers), not {component.ClassName}.");
        var config = ClipConfig.From(component.Config);
        return WithWeights(component, source => new ClipModel(new WeightReader(source, backend), config));
    }

    /// <summary>A <c>CLIPModel</c> or <c>CLIPVisionModelWithProjection</c> folder → the image tower and its projection.</summary>
    public static ClipVisionModelWithProjection LoadImageTower(string folder, IBackend backend)
    {
        var component = ComponentFolder.Open(folder, null);
        ClipVisionConfig config = component.ClassName switch
        {
            ClipConfig.ModelClass => ImageTowerOf(ClipConfig.From(component.Config)),
            ClipVisionConfig.WithProjectionClass => ClipVisionConfig.From(component.Config),
            _ => throw new AccelAesException(
                $"{component.Config.FilePath}: a CLIP image tower needs a CLIPModel or CLIPVisionModelWithProjection, not {component.ClassName}."),
        };
        return WithWeights(component, source => new ClipVisionModelWithProjection(new WeightReader(source, backend), config));
    }

    /// <summary>CLIPModel's visual_projection is as wide as its top-level projection_dim, not vision_config's.</summary>
    public static ClipVisionConfig ImageTowerOf(ClipConfig config) => config.VisionConfig with { ProjectionDim = config.ProjectionDim };

    private static T WithWeights<T>(ComponentFolder component, Func<IWeightSource, T> build)
    {
        using var set = SafeTensorsSet.OpenComponent(component.Path, component.WeightsBaseName, null);
        return build(new SafeTensorsWeightSource(set, set.Source));
    }
}
