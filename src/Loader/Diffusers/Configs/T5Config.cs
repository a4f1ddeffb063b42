namespace AccelAes.Loader.Diffusers.Configs;

/// <summary>
/// transformers <c>T5Config</c> (configuration_t5.py) as <c>T5EncoderModel</c> uses it: T5 v1.1 XXL is SD3's
/// <c>text_encoder_3</c> and FLUX's <c>text_encoder_2</c>. Defaults are the transformers constructor defaults.
/// </summary>
public sealed record T5Config
{
    public const string EncoderModelClass = "T5EncoderModel";

    public int VocabSize { get; init; } = 32128;
    public int DModel { get; init; } = 512;
    /// <summary>Width of one attention head (need not be d_model / num_heads).</summary>
    public int DKv { get; init; } = 64;
    public int DFf { get; init; } = 2048;
    /// <summary>Number of encoder blocks.</summary>
    public int NumLayers { get; init; } = 6;
    public int NumHeads { get; init; } = 8;
    public int RelativeAttentionNumBuckets { get; init; } = 32;
    public int RelativeAttentionMaxDistance { get; init; } = 128;
    public double LayerNormEpsilon { get; init; } = 1e-6;
    /// <summary>"relu", "gated-gelu", "gated-silu", ...: <c>[gated-]ACT</c>.</summary>
    public string FeedForwardProj { get; init; } = "relu";
    /// <summary>The feed-forward activation (a <see cref="TransformersActivations"/> name).</summary>
    public string DenseActFn { get; init; } = "relu";
    /// <summary>Gated feed-forward: <c>wo(act(wi_0 h) ⊙ wi_1 h)</c> instead of <c>wo(act(wi h))</c>.</summary>
    public bool IsGatedAct { get; init; }

    public int InnerDim => NumHeads * DKv;

    public static T5Config From(JsonConfig c)
    {
        var d = new T5Config();
        string feedForwardProj = c.GetString("feed_forward_proj", d.FeedForwardProj) ?? d.FeedForwardProj;
        // T5Config.__init__: "[gated-]ACT"; "gated-gelu" means gelu_new for backward compatibility.
        string[] parts = feedForwardProj.Split('-');
        if ((parts.Length > 1 && parts[0] != "gated") || parts.Length > 2)
            throw c.Unsupported("feed_forward_proj", feedForwardProj, "expected \"ACT\" or \"gated-ACT\", e.g. \"relu\" or \"gated-gelu\"");
        string derivedAct = feedForwardProj == "gated-gelu" ? "gelu_new" : parts[^1];
        bool derivedGated = parts[0] == "gated";
        // PretrainedConfig sets every leftover key as an attribute after __init__, so saved dense_act_fn /
        // is_gated_act values win over the ones derived from feed_forward_proj.
        var cfg = new T5Config
        {
            VocabSize = c.GetInt("vocab_size", d.VocabSize),
            DModel = c.GetInt("d_model", d.DModel),
            DKv = c.GetInt("d_kv", d.DKv),
            DFf = c.GetInt("d_ff", d.DFf),
            NumLayers = c.GetInt("num_layers", d.NumLayers),
            NumHeads = c.GetInt("num_heads", d.NumHeads),
            RelativeAttentionNumBuckets = c.GetInt("relative_attention_num_buckets", d.RelativeAttentionNumBuckets),
            RelativeAttentionMaxDistance = c.GetInt("relative_attention_max_distance", d.RelativeAttentionMaxDistance),
            LayerNormEpsilon = c.GetDouble("layer_norm_epsilon", d.LayerNormEpsilon),
            FeedForwardProj = feedForwardProj,
            DenseActFn = c.Has("dense_act_fn") ? TransformersActivations.Read(c, "dense_act_fn", derivedAct) : derivedAct,
            IsGatedAct = c.GetBool("is_gated_act", derivedGated),
        };
        cfg.Validate(c);
        return cfg;
    }

    private void Validate(JsonConfig c)
    {
        c.RequirePositive("vocab_size", VocabSize);
        c.RequirePositive("d_model", DModel);
        c.RequirePositive("d_kv", DKv);
        c.RequirePositive("d_ff", DFf);
        c.RequirePositive("num_layers", NumLayers);
        c.RequirePositive("num_heads", NumHeads);
        // Bidirectional buckets: half per direction, half of those exact; the log-spaced rest needs
        // max_exact = num_buckets / 4 ≥ 1 and max_distance above it.
        if (RelativeAttentionNumBuckets < 4)
            throw c.Unsupported("relative_attention_num_buckets", RelativeAttentionNumBuckets, "the encoder's bidirectional buckets need at least 4");
        if (RelativeAttentionMaxDistance <= RelativeAttentionNumBuckets / 4)
            throw c.Unsupported("relative_attention_max_distance", RelativeAttentionMaxDistance,
                $"it must exceed the exact-bucket range {RelativeAttentionNumBuckets / 4}");
        if (!(LayerNormEpsilon > 0)) throw c.Unsupported("layer_norm_epsilon", LayerNormEpsilon, "it must be positive");
        if (!TransformersActivations.Supported.Contains(DenseActFn))
            throw c.Unsupported("feed_forward_proj", FeedForwardProj,
                $"activation \"{DenseActFn}\" is not one of: {string.Join(", ", TransformersActivations.Supported)}");
    }
}
