namespace AccelAes.Loader.Diffusers.Configs;

/// <summary>
/// transformers <c>GemmaConfig</c> (configuration_gemma.py), Gemma-1 as Lumina-Next's text encoder (gemma-2b).
/// Defaults are the transformers constructor defaults (gemma-7b's shape).
/// </summary>
public sealed record GemmaConfig
{
    public const string ModelClass = "GemmaModel";
    /// <summary>A causal-LM checkpoint: the same <c>GemmaModel</c> under the <c>model.</c> prefix, plus <c>lm_head</c>.</summary>
    public const string CausalLmClass = "GemmaForCausalLM";

    public int VocabSize { get; init; } = 256000;
    public int HiddenSize { get; init; } = 3072;
    public int IntermediateSize { get; init; } = 24576;
    public int NumHiddenLayers { get; init; } = 28;
    public int NumAttentionHeads { get; init; } = 16;
    /// <summary>Key/value heads (grouped-query attention; 1 = multi-query, as gemma-2b).</summary>
    public int NumKeyValueHeads { get; init; } = 16;
    /// <summary>Head width, read from the config (gemma-7b: 16 × 256 = 4096 ≠ hidden 3072).</summary>
    public int HeadDim { get; init; } = 256;
    /// <summary>
    /// The MLP activation: <c>hidden_activation</c>; when that is null, transformers forces "gelu_pytorch_tanh"
    /// and ignores <c>hidden_act</c> (GemmaMLP, transformers PR #29402).
    /// </summary>
    public string HiddenActivation { get; init; } = "gelu_pytorch_tanh";
    public int MaxPositionEmbeddings { get; init; } = 8192;
    public double RmsNormEps { get; init; } = 1e-6;
    public double RopeTheta { get; init; } = 10000.0;
    public bool AttentionBias { get; init; }

    public static GemmaConfig From(JsonConfig c)
    {
        var d = new GemmaConfig();
        var cfg = new GemmaConfig
        {
            VocabSize = c.GetInt("vocab_size", d.VocabSize),
            HiddenSize = c.GetInt("hidden_size", d.HiddenSize),
            IntermediateSize = c.GetInt("intermediate_size", d.IntermediateSize),
            NumHiddenLayers = c.GetInt("num_hidden_layers", d.NumHiddenLayers),
            NumAttentionHeads = c.GetInt("num_attention_heads", d.NumAttentionHeads),
            NumKeyValueHeads = c.GetInt("num_key_value_heads", d.NumKeyValueHeads),
            HeadDim = c.GetInt("head_dim", d.HeadDim),
            HiddenActivation = TransformersActivations.Read(c, "hidden_activation", d.HiddenActivation),
            MaxPositionEmbeddings = c.GetInt("max_position_embeddings", d.MaxPositionEmbeddings),
            RmsNormEps = c.GetDouble("rms_norm_eps", d.RmsNormEps),
            RopeTheta = c.GetDouble("rope_theta", d.RopeTheta),
            AttentionBias = c.GetBool("attention_bias", d.AttentionBias),
        };
        cfg.Validate(c);
        return cfg;
    }

    private void Validate(JsonConfig c)
    {
        c.RequirePositive("vocab_size", VocabSize);
        c.RequirePositive("hidden_size", HiddenSize);
        c.RequirePositive("intermediate_size", IntermediateSize);
        c.RequirePositive("num_hidden_layers", NumHiddenLayers);
        c.RequirePositive("num_attention_heads", NumAttentionHeads);
        c.RequirePositive("num_key_value_heads", NumKeyValueHeads);
        c.RequirePositive("head_dim", HeadDim);
        // GemmaAttention raises the same ValueError, although head_dim comes from the config.
        if (HiddenSize % NumAttentionHeads != 0)
            throw c.Unsupported("num_attention_heads", NumAttentionHeads, $"it must divide hidden_size {HiddenSize}");
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw c.Unsupported("num_key_value_heads", NumKeyValueHeads, $"it must divide num_attention_heads {NumAttentionHeads}");
        // rotate_half pairs feature i with i + head_dim/2.
        if (HeadDim % 2 != 0) throw c.Unsupported("head_dim", HeadDim, "rotary embeddings need an even head_dim");
        if (!(RmsNormEps > 0)) throw c.Unsupported("rms_norm_eps", RmsNormEps, "it must be positive");
        if (!(RopeTheta > 0)) throw c.Unsupported("rope_theta", RopeTheta, "it must be positive");
        if (c.Has("rope_scaling"))
            throw c.Unsupported("rope_scaling", "(set)", "Gemma's attention uses unscaled rotary embeddings; scaled variants are not implemented");
    }
}
