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
        new("hidden_states", true, "latents [B, in_channels, H, W]", $"[B, {model.Config.InChannels}, H, W]"),
        new("encoder_hidden_states", true, "text embeddings [B, L, joint_attention_dim]", $"[B, L, {model.Config.JointAttentionDim}]"),
        new("pooled_projections", true, "pooled text embeddings [B, pooled_projection_dim]", $"[B, {model.Config.PooledProjectionDim}]"),
        new("timestep", true, "[B] (or a scalar) in 0…1000", "[] | [1] | [B]"),
    ];

    public IReadOnlyDictionary<string, Tensor> Forward(IReadOnlyDictionary<string, Tensor> inputs)
    {
        inputs = ForwardInputs.Bind(this, inputs);
        Tensor hidden = inputs["hidden_states"];
        Tensor timestep = ForwardInputs.BroadcastTimestep(inputs["timestep"], hidden.Shape[0]);
        Tensor sample = Model.Forward(hidden, inputs["encoder_hidden_states"], inputs["pooled_projections"], timestep);
        return new Dictionary<string, Tensor> { ["sample"] = sample };
    }
}
