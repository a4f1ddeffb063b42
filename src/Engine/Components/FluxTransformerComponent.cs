using AccelAes.Engine.Models.Flux;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Components;

/// <summary>
/// <c>FluxTransformer2DModel.forward(hidden_states, encoder_hidden_states, pooled_projections, timestep, img_ids,
/// txt_ids, guidance)</c> → <c>sample</c>. A scalar or [1] timestep / guidance is broadcast to the batch.
/// </summary>
public sealed class FluxTransformerComponent(FluxTransformer2DModel model) : IComponentForward
{
    public FluxTransformer2DModel Model { get; } = model;

    public string ClassName => Loader.Diffusers.Configs.FluxTransformerConfig.ClassName;

    public IReadOnlyList<ForwardInput> Inputs { get; } =
    [
        new("hidden_states", true, "packed latent tokens [B, N, in_channels]", $"[B, N, {model.Config.InChannels}]"),
        new("encoder_hidden_states", true, "T5 embeddings [B, L, joint_attention_dim]", $"[B, L, {model.Config.JointAttentionDim}]"),
        new("pooled_projections", true, "pooled CLIP embeddings [B, pooled_projection_dim]", $"[B, {model.Config.PooledProjectionDim}]"),
        new("timestep", true, "σ in [0, 1]: [B] or a scalar (the model multiplies by 1000)", "[] | [1] | [B]"),
        new("img_ids", true, "image position ids [N, axes] (a leading batch dimension is dropped)", "[N, *] | [*, N, *]"),
        new("txt_ids", true, "text position ids [L, axes] (a leading batch dimension is dropped)", "[L, *] | [*, L, *]"),
        new("guidance", model.Config.GuidanceEmbeds,
            model.Config.GuidanceEmbeds ? "distilled guidance scale: [B] or a scalar" : "not taken: this model has no guidance embedder",
            "[] | [1] | [B]"),
    ];

    public IReadOnlyDictionary<string, Tensor> Forward(IReadOnlyDictionary<string, Tensor> inputs)
    {
        inputs = ForwardInputs.Bind(this, inputs);
        Tensor hidden = inputs["hidden_states"];
        int batch = hidden.Shape[0];
        Tensor timestep = ForwardInputs.BroadcastTimestep(inputs["timestep"], batch);
        Tensor? guidance = inputs.TryGetValue("guidance", out var g) ? ForwardInputs.BroadcastTimestep(g, batch, "guidance") : null;
        Tensor sample = Model.Forward(hidden, inputs["encoder_hidden_states"], inputs["pooled_projections"], timestep,
            inputs["img_ids"], inputs["txt_ids"], guidance);
        return new Dictionary<string, Tensor> { ["sample"] = sample };
    }
}
