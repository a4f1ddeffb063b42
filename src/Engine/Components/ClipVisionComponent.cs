using AccelAes.Engine.Models.Clip;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Components;

/// <summary>
/// <c>CLIPVisionModelWithProjection.forward(pixel_values, output_hidden_states=True)</c> → <c>image_embeds</c>,
/// <c>last_hidden_state</c>, <c>hidden_states.0</c> … <c>hidden_states.N</c>; or the same call on
/// <c>CLIPVisionModel</c> → <c>pooler_output</c> in place of <c>image_embeds</c>.
/// </summary>
public sealed class ClipVisionComponent : IComponentForward
{
    private readonly Func<Tensor, ClipVisionOutput> _forward;

    public ClipVisionComponent(ClipVisionModel model)
    {
        Config = model.Config;
        ClassName = ClipVisionConfig.VisionModelClass;
        _forward = model.Forward;
        Inputs = Declare(model.Config);
    }

    public ClipVisionComponent(ClipVisionModelWithProjection model)
    {
        Config = model.Config;
        WithProjection = model;
        ClassName = ClipVisionConfig.WithProjectionClass;
        _forward = model.Forward;
        Inputs = Declare(model.Config);
    }

    /// <summary>The model when the component is a <c>CLIPVisionModelWithProjection</c>, else null.</summary>
    public ClipVisionModelWithProjection? WithProjection { get; }

    public ClipVisionConfig Config { get; }

    public string ClassName { get; }

    public IReadOnlyList<ForwardInput> Inputs { get; }

    public IReadOnlyDictionary<string, Tensor> Forward(IReadOnlyDictionary<string, Tensor> inputs)
    {
        inputs = ForwardInputs.Bind(this, inputs);
        return _forward(inputs["pixel_values"]).ToNamedOutputs();
    }

    internal static ForwardInput PixelValues(ClipVisionConfig c)
    {
        string shape = $"[B, {c.NumChannels}, {c.ImageSize}, {c.ImageSize}]";
        return new("pixel_values", true, $"preprocessed images {shape} (CLIPImageProcessor: resize, crop, rescale, normalise)", shape);
    }

    private static IReadOnlyList<ForwardInput> Declare(ClipVisionConfig c) => [PixelValues(c)];
}
