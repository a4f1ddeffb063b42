using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.Clip;

/// <summary>
/// transformers <c>CLIPVisionModelWithProjection</c>: the vision tower plus <c>visual_projection</c> (no bias) on the
/// pooled output. <c>image_embeds</c> is not normalised; it equals <c>CLIPModel.get_image_features</c> for the same
/// weights (open_clip's <c>encode_image</c>), which is what the LAION aesthetic head and CLIP score start from.
/// </summary>
public sealed class ClipVisionModelWithProjection
{
    private readonly LinearLayer _visualProjection;

    public ClipVisionModelWithProjection(WeightReader w, ClipVisionConfig config)
    {
        VisionModel = new ClipVisionTransformer(w.Scope("vision_model"), config);
        _visualProjection = LinearLayer.Load(w, "visual_projection", config.HiddenSize, config.ProjectionDim, bias: false);
    }

    public ClipVisionTransformer VisionModel { get; }

    public ClipVisionConfig Config => VisionModel.Config;

    public ClipVisionOutput Forward(Tensor pixelValues)
    {
        ClipVisionOutput vision = VisionModel.Forward(pixelValues);
        return vision with { ImageEmbeds = _visualProjection.Forward(vision.PoolerOutput) };
    }
}
