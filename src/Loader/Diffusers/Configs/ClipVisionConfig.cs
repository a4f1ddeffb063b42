namespace AccelAes.Loader.Diffusers.Configs;

/// <summary>
/// transformers <c>CLIPVisionConfig</c> (configuration_clip.py), the config of <c>CLIPVisionModel</c> and
/// <c>CLIPVisionModelWithProjection</c>, and the <c>vision_config</c> of a <c>CLIPModel</c>. Defaults are the
/// transformers constructor defaults (ViT-B/32 sizes), which matters because <c>CLIPConfig.to_json</c> leaves out the
/// sub-config fields equal to them; unknown keys are ignored.
/// </summary>
public sealed record ClipVisionConfig : IClipEncoderConfig
{
    public const string VisionModelClass = "CLIPVisionModel";
    public const string WithProjectionClass = "CLIPVisionModelWithProjection";

    public int HiddenSize { get; init; } = 768;
    public int IntermediateSize { get; init; } = 3072;
    /// <summary>Width of <c>visual_projection</c> (only <c>CLIPVisionModelWithProjection</c> reads it from here).</summary>
    public int ProjectionDim { get; init; } = 512;
    public int NumHiddenLayers { get; init; } = 12;
    public int NumAttentionHeads { get; init; } = 12;
    public int NumChannels { get; init; } = 3;
    /// <summary>The side of the square input the position table was trained for; pixel_values must have it.</summary>
    public int ImageSize { get; init; } = 224;
    public int PatchSize { get; init; } = 32;
    public string HiddenAct { get; init; } = "quick_gelu";
    public double LayerNormEps { get; init; } = 1e-5;

    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Patches per side: the conv has stride patch_size and no padding, so a remainder is dropped.</summary>
    public int PatchesPerSide => ImageSize / PatchSize;

    /// <summary>Rows of the position table: one per patch plus the class token.</summary>
    public int NumPositions => PatchesPerSide * PatchesPerSide + 1;

    public static ClipVisionConfig From(JsonConfig c)
    {
        var d = new ClipVisionConfig();
        var cfg = new ClipVisionConfig
        {
            HiddenSize = c.GetInt("hidden_size", d.HiddenSize),
            IntermediateSize = c.GetInt("intermediate_size", d.IntermediateSize),
            ProjectionDim = c.GetInt("projection_dim", d.ProjectionDim),
            NumHiddenLayers = c.GetInt("num_hidden_layers", d.NumHiddenLayers),
            NumAttentionHeads = c.GetInt("num_attention_heads", d.NumAttentionHeads),
            NumChannels = c.GetInt("num_channels", d.NumChannels),
            ImageSize = c.GetInt("image_size", d.ImageSize),
            PatchSize = c.GetInt("patch_size", d.PatchSize),
            HiddenAct = TransformersActivations.Read(c, "hidden_act", d.HiddenAct),
            LayerNormEps = c.GetDouble("layer_norm_eps", d.LayerNormEps),
        };
        cfg.Validate(c);
        return cfg;
    }

    private void Validate(JsonConfig c)
    {
        c.RequirePositive("hidden_size", HiddenSize);
        c.RequirePositive("intermediate_size", IntermediateSize);
        c.RequirePositive("projection_dim", ProjectionDim);
        c.RequirePositive("num_hidden_layers", NumHiddenLayers);
        c.RequirePositive("num_attention_heads", NumAttentionHeads);
        c.RequirePositive("num_channels", NumChannels);
        c.RequirePositive("image_size", ImageSize);
        c.RequirePositive("patch_size", PatchSize);
        if (HiddenSize % NumAttentionHeads != 0)
            throw c.Unsupported("num_attention_heads", NumAttentionHeads, $"it must divide hidden_size {HiddenSize}");
        if (PatchSize > ImageSize)
            throw c.Unsupported("patch_size", PatchSize, $"it must not exceed image_size {ImageSize}");
        if (!(LayerNormEps > 0)) throw c.Unsupported("layer_norm_eps", LayerNormEps, "it must be positive");
    }
}
