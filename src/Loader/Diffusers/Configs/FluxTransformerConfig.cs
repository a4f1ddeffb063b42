namespace AccelAes.Loader.Diffusers.Configs;

/// <summary>
/// <c>FluxTransformer2DModel</c> config (diffusers transformer_flux.py): FLUX.1-dev (guidance-distilled,
/// <c>guidance_embeds: true</c>) and FLUX.1-schnell (<c>guidance_embeds: false</c>). Defaults are diffusers'
/// constructor defaults, so a config that omits a key means what it means to diffusers.
/// </summary>
public sealed record FluxTransformerConfig
{
    public const string ClassName = "FluxTransformer2DModel";

    /// <summary>
    /// Only sizes <c>proj_out</c> (p²·out_channels outputs): diffusers' FLUX forward never patchifies, because the
    /// pipeline packs 2×2 latent patches itself. Every released checkpoint uses 1.
    /// </summary>
    public int PatchSize { get; init; } = 1;
    /// <summary>Width of a packed latent token (16 latent channels × 2 × 2 = 64 for FLUX.1).</summary>
    public int InChannels { get; init; } = 64;
    /// <summary>Width of an output token before the p² factor; <c>out_channels: null</c> means in_channels.</summary>
    public int OutChannels { get; init; } = 64;
    /// <summary>Double-stream blocks (<c>transformer_blocks</c>).</summary>
    public int NumLayers { get; init; } = 19;
    /// <summary>Single-stream blocks (<c>single_transformer_blocks</c>).</summary>
    public int NumSingleLayers { get; init; } = 38;
    public int AttentionHeadDim { get; init; } = 128;
    public int NumAttentionHeads { get; init; } = 24;
    /// <summary>Width of the T5 text embeddings.</summary>
    public int JointAttentionDim { get; init; } = 4096;
    /// <summary>Width of the pooled CLIP embedding.</summary>
    public int PooledProjectionDim { get; init; } = 768;
    /// <summary>The model embeds the distilled guidance scale (FLUX.1-dev); the forward then requires <c>guidance</c>.</summary>
    public bool GuidanceEmbeds { get; init; }
    /// <summary>Rotary widths per position-id axis; each even, summing to the head dim.</summary>
    public int[] AxesDimsRope { get; init; } = [16, 56, 56];

    public int InnerDim => NumAttentionHeads * AttentionHeadDim;

    /// <summary>Width of each output token: <c>proj_out</c> produces p²·out_channels features.</summary>
    public int OutputTokenWidth => PatchSize * PatchSize * OutChannels;

    public static FluxTransformerConfig From(JsonConfig c)
    {
        var d = new FluxTransformerConfig();
        int inChannels = c.GetInt("in_channels", d.InChannels);
        var cfg = new FluxTransformerConfig
        {
            PatchSize = c.GetInt("patch_size", d.PatchSize),
            InChannels = inChannels,
            // diffusers: `out_channels or in_channels`, so null (and 0) mean in_channels.
            OutChannels = c.GetOptionalInt("out_channels") is int o && o != 0 ? o : inChannels,
            NumLayers = c.GetInt("num_layers", d.NumLayers),
            NumSingleLayers = c.GetInt("num_single_layers", d.NumSingleLayers),
            AttentionHeadDim = c.GetInt("attention_head_dim", d.AttentionHeadDim),
            NumAttentionHeads = c.GetInt("num_attention_heads", d.NumAttentionHeads),
            JointAttentionDim = c.GetInt("joint_attention_dim", d.JointAttentionDim),
            PooledProjectionDim = c.GetInt("pooled_projection_dim", d.PooledProjectionDim),
            GuidanceEmbeds = c.GetBool("guidance_embeds", d.GuidanceEmbeds),
            AxesDimsRope = c.GetIntArray("axes_dims_rope", d.AxesDimsRope),
        };
        cfg.Validate(c);
        return cfg;
    }

    private void Validate(JsonConfig c)
    {
        c.RequirePositive("patch_size", PatchSize);
        c.RequirePositive("in_channels", InChannels);
        c.RequirePositive("out_channels", OutChannels);
        NonNegative(c, "num_layers", NumLayers);
        NonNegative(c, "num_single_layers", NumSingleLayers);
        c.RequirePositive("attention_head_dim", AttentionHeadDim);
        c.RequirePositive("num_attention_heads", NumAttentionHeads);
        c.RequirePositive("joint_attention_dim", JointAttentionDim);
        c.RequirePositive("pooled_projection_dim", PooledProjectionDim);
        ValidateAxes(c, AxesDimsRope, AttentionHeadDim);
    }

    /// <summary>
    /// Every axis rotates whole (cos, sin) pairs, and the concatenated per-axis tables must cover the head
    /// exactly (diffusers would fail with a broadcast error inside the first attention).
    /// </summary>
    private static void ValidateAxes(JsonConfig c, int[] axes, int headDim)
    {
        if (axes.Length == 0)
            throw c.Unsupported("axes_dims_rope", axes, "it needs at least one axis");
        foreach (int a in axes)
            if (a < 0 || a % 2 != 0)
                throw c.Unsupported("axes_dims_rope", axes, $"every axis width must be even and non-negative, got {a}");
        int sum = axes.Sum();
        if (sum != headDim)
            throw c.Unsupported("axes_dims_rope", axes, $"the axis widths sum to {sum}, but they must sum to attention_head_dim = {headDim}");
    }

    private static void NonNegative(JsonConfig c, string field, int value)
    {
        if (value < 0) throw c.Unsupported(field, value, "it must not be negative");
    }
}
