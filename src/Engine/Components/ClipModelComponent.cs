using AccelAes.Engine.Models.Clip;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Components;

/// <summary>
/// <c>CLIPModel.forward(input_ids, pixel_values, attention_mask=None, output_hidden_states=True)</c> →
/// <c>logits_per_image</c>, <c>logits_per_text</c>, <c>text_embeds</c>, <c>image_embeds</c> (normalised), and the
/// towers' outputs under <c>text_model_output.*</c> and <c>vision_model_output.*</c>.
/// </summary>
public sealed class ClipModelComponent(ClipModel model) : IComponentForward
{
    public ClipModel Model { get; } = model;

    public string ClassName => ClipConfig.ModelClass;

    public IReadOnlyList<ForwardInput> Inputs { get; } =
    [
        new("input_ids", true, "token ids [T, L], L ≤ max_position_embeddings", "[T, L]", InputKind.Indices),
        ClipVisionComponent.PixelValues(model.Config.VisionConfig),
        new("attention_mask", false, "[T, L] of 1 (attend) / 0 (padding)", "[T, L]", InputKind.Indices),
    ];

    public IReadOnlyDictionary<string, Tensor> Forward(IReadOnlyDictionary<string, Tensor> inputs)
    {
        inputs = ForwardInputs.Bind(this, inputs);
        var ids = TokenGrid.FromTensor(inputs["input_ids"], "input_ids");
        TokenGrid? mask = inputs.TryGetValue("attention_mask", out var m) ? TokenGrid.FromTensor(m, "attention_mask") : null;
        return Model.Forward(ids, inputs["pixel_values"], mask).ToNamedOutputs();
    }
}
