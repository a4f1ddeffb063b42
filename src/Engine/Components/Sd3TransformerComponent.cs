using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Components;

/// <summary><c>SD3Transformer2DModel.forward(hidden_states, encoder_hidden_states, pooled_projections, timestep)</c> → <c>sample</c>.</summary>
public sealed class Sd3TransformerComponent(Sd3Transformer2DModel model) : IComponentForward
{
    public Sd3Transformer2DModel Model { get; } = model;

    public string ClassName => "SD3Transformer2DModel";

    public IReadOnlyList<ForwardInput> Inputs { get; } =
    [
        new("hidden_states", true, "latents [B, C, H, W]"),
        new("encoder_hidden_states", true, "text embeddings [B, L, joint_attention_dim]"),
        new("pooled_projections", true, "pooled text embeddings [B, pooled_projection_dim]"),
        new("timestep", true, "[B] (or a scalar) in 0…1000"),
    ];

    public IReadOnlyDictionary<string, Tensor> Forward(IReadOnlyDictionary<string, Tensor> inputs)
    {
        ForwardInputs.Validate(this, inputs);
        Tensor hidden = inputs["hidden_states"];
        Tensor timestep = ForwardInputs.BroadcastTimestep(inputs["timestep"], hidden.Shape[0]);
        Tensor sample = Model.Forward(hidden, inputs["encoder_hidden_states"], inputs["pooled_projections"], timestep);
        return new Dictionary<string, Tensor> { ["sample"] = sample };
    }
}
