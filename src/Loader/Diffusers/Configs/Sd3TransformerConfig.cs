namespace AccelAes.Loader.Diffusers.Configs;

/// <summary>
/// <c>SD3Transformer2DModel</c> config (diffusers transformer_sd3.py), covering SD3-Medium, SD3.5-Medium
/// (MMDiT-X dual attention, qk RMSNorm) and SD3.5-Large. Defaults are diffusers' constructor defaults.
/// </summary>
public sealed record Sd3TransformerConfig
{
    public const string ClassName = "SD3Transformer2DModel";

    public int SampleSize { get; init; } = 128;
    public int PatchSize { get; init; } = 2;
    public int InChannels { get; init; } = 16;
    public int NumLayers { get; init; } = 18;
    public int AttentionHeadDim { get; init; } = 64;
    public int NumAttentionHeads { get; init; } = 18;
    public int JointAttentionDim { get; init; } = 4096;
    public int CaptionProjectionDim { get; init; } = 1152;
    public int PooledProjectionDim { get; init; } = 2048;
    public int OutChannels { get; init; } = 16;
    public int PosEmbedMaxSize { get; init; } = 96;
    public int[] DualAttentionLayers { get; init; } = [];
    /// <summary>null or "rms_norm".</summary>
    public string? QkNorm { get; init; }

    public int InnerDim => NumAttentionHeads * AttentionHeadDim;

    public static Sd3TransformerConfig From(JsonConfig c)
    {
        var d = new Sd3TransformerConfig();
        var cfg = new Sd3TransformerConfig
        {
            SampleSize = c.GetInt("sample_size", d.SampleSize),
            PatchSize = c.GetInt("patch_size", d.PatchSize),
            InChannels = c.GetInt("in_channels", d.InChannels),
            NumLayers = c.GetInt("num_layers", d.NumLayers),
            AttentionHeadDim = c.GetInt("attention_head_dim", d.AttentionHeadDim),
            NumAttentionHeads = c.GetInt("num_attention_heads", d.NumAttentionHeads),
            JointAttentionDim = c.GetInt("joint_attention_dim", d.JointAttentionDim),
            CaptionProjectionDim = c.GetInt("caption_projection_dim", d.CaptionProjectionDim),
            PooledProjectionDim = c.GetInt("pooled_projection_dim", d.PooledProjectionDim),
            OutChannels = c.GetOptionalInt("out_channels") ?? c.GetInt("in_channels", d.InChannels),
            PosEmbedMaxSize = c.GetInt("pos_embed_max_size", d.PosEmbedMaxSize),
            DualAttentionLayers = c.GetIntArray("dual_attention_layers", []),
            QkNorm = c.GetChoice("qk_norm", null, null, "rms_norm"),
        };
        cfg.Validate(c);
        return cfg;
    }

    private void Validate(JsonConfig c)
    {
        c.RequirePositive("patch_size", PatchSize);
        c.RequirePositive("in_channels", InChannels);
        c.RequirePositive("num_layers", NumLayers);
        c.RequirePositive("attention_head_dim", AttentionHeadDim);
        c.RequirePositive("num_attention_heads", NumAttentionHeads);
        c.RequirePositive("joint_attention_dim", JointAttentionDim);
        c.RequirePositive("pooled_projection_dim", PooledProjectionDim);
        c.RequirePositive("out_channels", OutChannels);
        c.RequirePositive("pos_embed_max_size", PosEmbedMaxSize);
        // The joint attention concatenates image and text tokens of one width, so the text projection must
        // produce the model width (diffusers would fail later with a shape error).
        if (CaptionProjectionDim != InnerDim)
            throw c.Unsupported("caption_projection_dim", CaptionProjectionDim,
                $"it must equal num_attention_heads × attention_head_dim = {InnerDim}");
        foreach (int layer in DualAttentionLayers)
            if (layer < 0 || layer >= NumLayers)
                throw c.Unsupported("dual_attention_layers", DualAttentionLayers, $"layer {layer} is outside 0..{NumLayers - 1}");
    }
}
