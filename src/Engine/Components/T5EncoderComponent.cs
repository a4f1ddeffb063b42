using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Components;

/// <summary>
/// <c>T5EncoderModel.forward(input_ids, attention_mask=None, output_hidden_states=True)</c> →
/// <c>last_hidden_state</c>, <c>hidden_states.0</c> … <c>hidden_states.N</c>.
/// </summary>
public sealed class T5EncoderComponent(T5EncoderModel model) : IComponentForward
{
    public T5EncoderModel Model { get; } = model;

    public string ClassName => T5Config.EncoderModelClass;

    public IReadOnlyList<ForwardInput> Inputs { get; } =
    [
        new("input_ids", true, "token ids [B, L]", "[B, L]", InputKind.Indices),
        new("attention_mask", false, "[B, L] of 1 (attend) / 0 (padding); SD3 and FLUX pass none", "[B, L]", InputKind.Indices),
    ];

    public IReadOnlyDictionary<string, Tensor> Forward(IReadOnlyDictionary<string, Tensor> inputs)
    {
        inputs = ForwardInputs.Bind(this, inputs);
        var ids = TokenGrid.FromTensor(inputs["input_ids"], "input_ids");
        TokenGrid? mask = inputs.TryGetValue("attention_mask", out var m) ? TokenGrid.FromTensor(m, "attention_mask") : null;
        return Model.Forward(ids, mask).ToNamedOutputs();
    }
}
