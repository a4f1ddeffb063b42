using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.Clip;

/// <summary>transformers <c>CLIPVisionModel</c>: the vision tower under <c>vision_model.</c>, no projection.</summary>
public sealed class ClipVisionModel
{
    public ClipVisionModel(WeightReader w, ClipVisionConfig config)
        => VisionModel = new ClipVisionTransformer(w.Scope("vision_model"), config);

    public ClipVisionTransformer VisionModel { get; }

    public ClipVisionConfig Config => VisionModel.Config;

    public ClipVisionOutput Forward(Tensor pixelValues) => VisionModel.Forward(pixelValues);
}
