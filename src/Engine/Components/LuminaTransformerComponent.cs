using AccelAes.Engine.Models;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Components;

/// <summary>
/// <c>LuminaNextDiT2DModel.forward(hidden_states, timestep, encoder_hidden_states, encoder_mask)</c> → <c>sample</c>
/// (all out_channels: 8 with learn_sigma).
///
/// diffusers' forward also takes <c>image_rotary_emb</c> and <c>cross_attention_kwargs</c>, which
/// LuminaText2ImgPipeline computes; here they are derived the same way by default (<see cref="LuminaResolutionScaling"/>):
/// the image is the latent ×8 pixels, <c>scaling_factor = √(W·H)/(sample_size·8)</c>, the table is
/// <c>get_2d_rotary_pos_embed_lumina(head_dim, 384, 384, linear_factor, ntk_factor)</c> with
/// linear_factor = scaling_factor when <c>timestep[0] &lt; 1.0</c> (scaling_watershed) and ntk_factor = scaling_factor
/// otherwise, and proportional attention uses <c>base_sequence_length = (sample_size·8 // 16)²</c>.
/// Optional overrides:
/// <list type="bullet">
/// <item><c>base_sequence_length</c>: a scalar; 0 turns proportional attention off (the pipeline's proportional_attn=False).</item>
/// <item><c>image_rotary_emb_real</c> and <c>image_rotary_emb_imag</c> (together): diffusers' complex table as two
/// [h, w, head_dim/2] parts, h and w at least the token grid (its top-left corner is used, as LuminaPatchEmbed crops).</item>
/// </list>
/// </summary>
public sealed class LuminaTransformerComponent(LuminaNextDiT2DModel model) : IComponentForward
{
    public LuminaNextDiT2DModel Model { get; } = model;

    public string ClassName => Loader.Diffusers.Configs.LuminaNextDiTConfig.ClassName;

    public IReadOnlyList<ForwardInput> Inputs { get; } =
    [
        new("hidden_states", true, "latents [B, in_channels, H, W]", $"[B, {model.Config.InChannels}, H, W]"),
        new("timestep", true, "[B] (or a scalar): Lumina's model time 1 − σ, 0 = noise, 1 = image", "[] | [1] | [B]"),
        new("encoder_hidden_states", true, "caption features [B, L, cross_attention_dim]", $"[B, L, {model.Config.CrossAttentionDim}]"),
        new("encoder_mask", true, "[B, L], 1 = token, 0 = padding (float, int64 or bool)", "[B, L]"),
        new("base_sequence_length", false, "scalar override of the proportional-attention base; 0 = off", "[] | [1]"),
        new("image_rotary_emb_real", false, "real part of a RoPE table [h, w, head_dim/2] overriding the computed one",
            $"[h, w, {model.Config.HeadDim / 2}]"),
        new("image_rotary_emb_imag", false, "imaginary part, with image_rotary_emb_real", $"[h, w, {model.Config.HeadDim / 2}]"),
    ];

    public IReadOnlyDictionary<string, Tensor> Forward(IReadOnlyDictionary<string, Tensor> inputs)
    {
        inputs = ForwardInputs.Bind(this, inputs);
        Tensor hidden = inputs["hidden_states"];
        Tensor timestep = ForwardInputs.BroadcastTimestep(inputs["timestep"], hidden.Shape[0]);
        Tensor mask = inputs["encoder_mask"];
        LuminaNextDiT2DModel.CheckCaptionMask(mask, "encoder_mask");

        float t0 = timestep.Backend.Download(timestep)[0];
        var scaling = LuminaResolutionScaling.ForPipeline(Model.Config, hidden.Shape[2], hidden.Shape[3], t0);
        int? baseSequenceLength = scaling.BaseSequenceLength;
        if (inputs.TryGetValue("base_sequence_length", out var baseInput))
            baseSequenceLength = BaseSequenceLength(baseInput);
        LuminaRotaryTable table = RotaryOverride(inputs) ?? Model.RotaryTableFor(hidden, scaling);

        Tensor sample = Model.Forward(hidden, timestep, inputs["encoder_hidden_states"], mask, table, baseSequenceLength);
        return new Dictionary<string, Tensor> { ["sample"] = sample };
    }

    private static int? BaseSequenceLength(Tensor input)
    {
        if (input.ElementCount != 1)
            throw new ModelInputException("base_sequence_length", $"Input 'base_sequence_length' has shape {input.Shape}; expected a scalar.");
        float v = input.Backend.Download(input)[0];
        if (v == 0f) return null;
        if (v < 2f || v != MathF.Floor(v) || v > int.MaxValue)
            throw new ModelInputException("base_sequence_length",
                $"Input 'base_sequence_length' is {v}; expected an integer ≥ 2 (or 0 to turn proportional attention off).");
        return (int)v;
    }

    private LuminaRotaryTable? RotaryOverride(IReadOnlyDictionary<string, Tensor> inputs)
    {
        bool hasReal = inputs.TryGetValue("image_rotary_emb_real", out var real);
        bool hasImag = inputs.TryGetValue("image_rotary_emb_imag", out var imag);
        if (!hasReal && !hasImag) return null;
        if (!hasReal || !hasImag)
            throw new ModelInputException(hasReal ? "image_rotary_emb_imag" : "image_rotary_emb_real",
                "image_rotary_emb_real and image_rotary_emb_imag must be given together.");
        int pairs = Model.Config.HeadDim / 2;
        foreach (var (name, t) in new[] { ("image_rotary_emb_real", real!), ("image_rotary_emb_imag", imag!) })
            ModelInputs.Require(t.Shape.Rank == 3 && t.Shape[2] == pairs && t.Shape == real!.Shape, name, t.Shape,
                $"[h, w, {pairs}] (head_dim/2 complex pairs), the same shape for both parts");
        return LuminaRotaryTable.FromParts(Model.Config.HeadDim, real!.Shape[0], real.Shape[1],
            real.Backend.Download(real), imag!.Backend.Download(imag));
    }
}
