namespace AccelAes.Loader.Diffusers.Configs;

/// <summary>
/// transformers <c>CLIPConfig</c>, the config of <c>CLIPModel</c> (openai/clip-vit-large-patch14): a
/// <c>text_config</c>, a <c>vision_config</c>, the shared <c>projection_dim</c> of both projections, and the
/// initial <c>logit_scale</c> (the trained value is a weight). <c>CLIPConfig.to_json</c> writes only the sub-config
/// fields that differ from their defaults, so each sub-config is read with its own class's defaults, and a missing
/// sub-config is all defaults, as <c>CLIPConfig(text_config=None)</c> makes it.
/// </summary>
public sealed record ClipConfig
{
    public const string ModelClass = "CLIPModel";

    public required ClipTextConfig TextConfig { get; init; }
    public required ClipVisionConfig VisionConfig { get; init; }
    /// <summary>Width of <c>text_projection</c> and <c>visual_projection</c> (the sub-configs' own values are not used by CLIPModel).</summary>
    public int ProjectionDim { get; init; } = 512;
    public double LogitScaleInitValue { get; init; } = 2.6592;

    public static ClipConfig From(JsonConfig c)
    {
        var cfg = new ClipConfig
        {
            TextConfig = ClipTextConfig.From(SubConfig(c, "text_config")),
            VisionConfig = ClipVisionConfig.From(SubConfig(c, "vision_config")),
            ProjectionDim = c.GetInt("projection_dim", 512),
            LogitScaleInitValue = c.GetDouble("logit_scale_init_value", 2.6592),
        };
        c.RequirePositive("projection_dim", cfg.ProjectionDim);
        return cfg;
    }

    private static JsonConfig SubConfig(JsonConfig c, string field)
        => c.Has(field) ? c.GetObject(field) : JsonConfig.Parse($"{c.FilePath} ({field})", "{}");
}
