using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Components;

/// <summary>
/// <c>GemmaModel.forward(input_ids, attention_mask, output_hidden_states=True)</c> → <c>last_hidden_state</c>,
/// <c>hidden_states.0</c> … <c>hidden_states.N</c>. A <c>GemmaForCausalLM</c> checkpoint runs as the GemmaModel
/// inside it (the text-encoder use; no logits), and <see cref="ClassName"/> says which class the config named.
/// </summary>
public sealed class GemmaComponent(GemmaModel model, string className) : IComponentForward
{
    public GemmaModel Model { get; } = model;

    public string ClassName { get; } = className;

    public IReadOnlyList<ForwardInput> Inputs { get; } =
    [
        new("input_ids", true, "token ids [B, L]", "[B, L]", InputKind.Indices),
        new("attention_mask", false, "[B, L] of 1 (attend) / 0 (padding), the tokenizer's mask (Lumina passes it)", "[B, L]", InputKind.Indices),
    ];

    public IReadOnlyDictionary<string, Tensor> Forward(IReadOnlyDictionary<string, Tensor> inputs)
    {
        inputs = ForwardInputs.Bind(this, inputs);
        var ids = TokenGrid.FromTensor(inputs["input_ids"], "input_ids");
        TokenGrid? mask = inputs.TryGetValue("attention_mask", out var m) ? TokenGrid.FromTensor(m, "attention_mask") : null;
        return Model.Forward(ids, mask).ToNamedOutputs();
    }
}
