using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Planning;

/// <summary>What a component does in a generation, which decides the phases it must be resident for.</summary>
public enum ComponentRole
{
    TextEncoder,
    Transformer,
    Vae,
}

/// <summary>
/// One model component in the plan: its name (the pipeline folder's, e.g. <c>text_encoder_2</c>), what it is
/// (<c>T5-XXL</c>), its role, its parameters, where the numbers come from, and for the transformer the per-block split.
/// </summary>
public sealed record PlannedComponent(string Name, string Kind, ComponentRole Role, WeightTally Weights, string Source,
    TransformerWeights? Blocks = null)
{
    /// <summary>A text encoder's widths, for its activation estimate (null for the other roles).</summary>
    public TextEncoderShape? Encoder { get; init; }

    /// <summary>The VAE's config, for the decode estimate (null for the other roles).</summary>
    public AutoencoderKLConfig? Vae { get; init; }

    /// <summary>Device bytes of the weights; fp8 applies to the transformer only (the other components stay as stored).</summary>
    public long Bytes(WeightPrecision precision) => Weights.Bytes(Role == ComponentRole.Transformer ? precision : WeightPrecision.AsStored);
}

/// <summary>
/// The widths of a text encoder that size its activations: hidden width, attention width (heads × head dim), feed-forward
/// width (gated: two input projections), heads, the tokens the pipeline feeds it, and whether its attention takes a
/// materialised [heads, L, L] position bias (T5).
/// </summary>
public sealed record TextEncoderShape(long Hidden, long AttentionWidth, long FeedForward, bool Gated, long Heads, long Tokens, bool PositionBias)
{
    public static TextEncoderShape Of(ClipTextConfig c) =>
        new(c.HiddenSize, c.HiddenSize, c.IntermediateSize, false, c.NumAttentionHeads, c.MaxPositionEmbeddings, false);

    public static TextEncoderShape Of(T5Config c, long tokens) => new(c.DModel, c.InnerDim, c.DFf, c.IsGatedAct, c.NumHeads, tokens, true);

    public static TextEncoderShape Of(GemmaConfig c, long tokens) =>
        new(c.HiddenSize, (long)c.NumAttentionHeads * c.HeadDim, c.IntermediateSize, true, c.NumAttentionHeads, tokens, false);
}
