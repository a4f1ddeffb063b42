using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Components;

/// <summary>
/// <c>CLIPTextModel.forward(input_ids, attention_mask=None, output_hidden_states=True)</c> → <c>last_hidden_state</c>,
/// <c>pooler_output</c>, <c>hidden_states.0</c> … <c>hidden_states.N</c>; or the same call on
/// <c>CLIPTextModelWithProjection</c> → <c>text_embeds</c>, <c>last_hidden_state</c>, <c>hidden_states.*</c>.
/// </summary>
public sealed class ClipTextComponent : IComponentForward
{
    private readonly Func<TokenGrid, TokenGrid?, TextEncoderOutput> _forward;

    public ClipTextComponent(ClipTextModel model)
    {
        TextModel = model;
        ClassName = ClipTextConfig.TextModelClass;
        _forward = model.Forward;
    }

    public ClipTextComponent(ClipTextModelWithProjection model)
    {
        WithProjection = model;
        ClassName = ClipTextConfig.WithProjectionClass;
        _forward = model.Forward;
    }

    /// <summary>The model when the component is a <c>CLIPTextModel</c>, else null.</summary>
    public ClipTextModel? TextModel { get; }

    /// <summary>The model when the component is a <c>CLIPTextModelWithProjection</c>, else null.</summary>
    public ClipTextModelWithProjection? WithProjection { get; }

    public string ClassName { get; }

    public IReadOnlyList<ForwardInput> Inputs { get; } =
    [
        new("input_ids", true, "token ids [B, L], L ≤ max_position_embeddings", "[B, L]", InputKind.Indices),
        new("attention_mask", false, "[B, L] of 1 (attend) / 0 (padding); SD3 and FLUX pass none", "[B, L]", InputKind.Indices),
    ];

    public IReadOnlyDictionary<string, Tensor> Forward(IReadOnlyDictionary<string, Tensor> inputs)
    {
        inputs = ForwardInputs.Bind(this, inputs);
        var ids = TokenGrid.FromTensor(inputs["input_ids"], "input_ids");
        TokenGrid? mask = inputs.TryGetValue("attention_mask", out var m) ? TokenGrid.FromTensor(m, "attention_mask") : null;
        return _forward(ids, mask).ToNamedOutputs();
    }
}
