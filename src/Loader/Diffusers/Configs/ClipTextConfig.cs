namespace AccelAes.Loader.Diffusers.Configs;

/// <summary>
/// transformers <c>CLIPTextConfig</c> (configuration_clip.py), the config of <c>CLIPTextModel</c> and
/// <c>CLIPTextModelWithProjection</c>: CLIP ViT-L/14's text tower in SD3 / FLUX and OpenCLIP bigG in SD3.
/// Defaults are the transformers constructor defaults; unknown keys are ignored.
/// </summary>
public sealed record ClipTextConfig : IClipEncoderConfig
{
    public const string TextModelClass = "CLIPTextModel";
    public const string WithProjectionClass = "CLIPTextModelWithProjection";

    public int VocabSize { get; init; } = 49408;
    public int HiddenSize { get; init; } = 512;
    public int IntermediateSize { get; init; } = 2048;
    /// <summary>Width of <c>text_projection</c> (only <c>CLIPTextModelWithProjection</c> has one).</summary>
    public int ProjectionDim { get; init; } = 512;
    public int NumHiddenLayers { get; init; } = 12;
    public int NumAttentionHeads { get; init; } = 8;
    public int MaxPositionEmbeddings { get; init; } = 77;
    /// <summary>A <see cref="TransformersActivations"/> name: CLIP-L uses "quick_gelu", OpenCLIP bigG "gelu".</summary>
    public string HiddenAct { get; init; } = "quick_gelu";
    public double LayerNormEps { get; init; } = 1e-5;
    /// <summary>
    /// Decides the pooling rule: 2 (configs older than transformers PR #24773) pools at argmax(input_ids);
    /// any other value pools at the first occurrence of this id.
    /// </summary>
    public int EosTokenId { get; init; } = 49407;

    public int HeadDim => HiddenSize / NumAttentionHeads;

    public static ClipTextConfig From(JsonConfig c)
    {
        var d = new ClipTextConfig();
        var cfg = new ClipTextConfig
        {
            VocabSize = c.GetInt("vocab_size", d.VocabSize),
            HiddenSize = c.GetInt("hidden_size", d.HiddenSize),
            IntermediateSize = c.GetInt("intermediate_size", d.IntermediateSize),
            ProjectionDim = c.GetInt("projection_dim", d.ProjectionDim),
            NumHiddenLayers = c.GetInt("num_hidden_layers", d.NumHiddenLayers),
            NumAttentionHeads = c.GetInt("num_attention_heads", d.NumAttentionHeads),
            MaxPositionEmbeddings = c.GetInt("max_position_embeddings", d.MaxPositionEmbeddings),
            HiddenAct = TransformersActivations.Read(c, "hidden_act", d.HiddenAct),
            LayerNormEps = c.GetDouble("layer_norm_eps", d.LayerNormEps),
            EosTokenId = c.GetInt("eos_token_id", d.EosTokenId),
        };
        cfg.Validate(c);
        return cfg;
    }

    private void Validate(JsonConfig c)
    {
        c.RequirePositive("vocab_size", VocabSize);
        c.RequirePositive("hidden_size", HiddenSize);
        c.RequirePositive("intermediate_size", IntermediateSize);
        c.RequirePositive("projection_dim", ProjectionDim);
        c.RequirePositive("num_hidden_layers", NumHiddenLayers);
        c.RequirePositive("num_attention_heads", NumAttentionHeads);
        c.RequirePositive("max_position_embeddings", MaxPositionEmbeddings);
        // CLIPAttention raises the same ValueError: heads split the hidden width evenly.
        if (HiddenSize % NumAttentionHeads != 0)
            throw c.Unsupported("num_attention_heads", NumAttentionHeads, $"it must divide hidden_size {HiddenSize}");
        if (!(LayerNormEps > 0)) throw c.Unsupported("layer_norm_eps", LayerNormEps, "it must be positive");
    }
}
