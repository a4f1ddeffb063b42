namespace AccelAes.Loader.Diffusers.Configs;

/// <summary>
/// <c>LuminaNextDiT2DModel</c> config (diffusers lumina_nextdit2d.py). Defaults are diffusers' constructor
/// defaults (note: hidden_size 2304 but num_layers 32 and num_kv_heads null; Lumina-Next-SFT's own config sets
/// 24 layers and 8 kv heads). Unknown keys are ignored, as diffusers does.
/// </summary>
public sealed record LuminaNextDiTConfig
{
    public const string ClassName = "LuminaNextDiT2DModel";

    /// <summary>Latent size the model was trained at; the pipeline's default image size is sample_size·8 pixels.</summary>
    public int SampleSize { get; init; } = 128;
    public int PatchSize { get; init; } = 2;
    public int InChannels { get; init; } = 4;
    public int HiddenSize { get; init; } = 2304;
    public int NumLayers { get; init; } = 32;
    public int NumAttentionHeads { get; init; } = 32;
    /// <summary>Key/value heads (grouped-query attention); null in the config means as many as query heads.</summary>
    public int? NumKvHeads { get; init; }
    public int MultipleOf { get; init; } = 256;
    public double? FfnDimMultiplier { get; init; }
    public double NormEps { get; init; } = 1e-5;
    /// <summary>The model predicts a variance too: out_channels = 2·in_channels (the pipeline uses the first half).</summary>
    public bool LearnSigma { get; init; } = true;
    /// <summary>LayerNorm (affine, eps 1e-5) on q and k over the full projected width, before the head split.</summary>
    public bool QkNorm { get; init; } = true;
    public int CrossAttentionDim { get; init; } = 2048;
    /// <summary>Stored in the config but unused by diffusers' forward (the pipeline derives its own scaling factor).</summary>
    public double ScalingFactor { get; init; } = 1.0;

    public int HeadDim => HiddenSize / NumAttentionHeads;

    public int KvHeads => NumKvHeads ?? NumAttentionHeads;

    /// <summary>Width of the projected queries (heads·head_dim; equals hidden_size when it divides evenly).</summary>
    public int QueryDim => NumAttentionHeads * HeadDim;

    /// <summary>Width of the projected keys / values (kv_heads·head_dim).</summary>
    public int KvDim => KvHeads * HeadDim;

    public int OutChannels => LearnSigma ? 2 * InChannels : InChannels;

    /// <summary>Width of the timestep+caption conditioning: <c>min(hidden_size, 1024)</c> (architectures.md §5).</summary>
    public int ConditioningDim => Math.Min(HiddenSize, 1024);

    /// <summary>
    /// <c>LuminaFeedForward</c> inner width: int(4·2·D/3), times ffn_dim_multiplier when set (truncated), rounded
    /// up to a multiple of multiple_of. Python's true division and int() truncation are reproduced in doubles.
    /// </summary>
    public int FfnInnerDim
    {
        get
        {
            int inner = (int)(4.0 * 2 * HiddenSize / 3);
            if (FfnDimMultiplier is double m) inner = (int)(m * inner);
            return MultipleOf * ((inner + MultipleOf - 1) / MultipleOf);
        }
    }

    public static LuminaNextDiTConfig From(JsonConfig c)
    {
        var d = new LuminaNextDiTConfig();
        var cfg = new LuminaNextDiTConfig
        {
            SampleSize = c.GetInt("sample_size", d.SampleSize),
            PatchSize = c.GetInt("patch_size", d.PatchSize),
            InChannels = c.GetInt("in_channels", d.InChannels),
            HiddenSize = c.GetInt("hidden_size", d.HiddenSize),
            NumLayers = c.GetInt("num_layers", d.NumLayers),
            NumAttentionHeads = c.GetInt("num_attention_heads", d.NumAttentionHeads),
            NumKvHeads = c.GetOptionalInt("num_kv_heads"),
            MultipleOf = c.GetInt("multiple_of", d.MultipleOf),
            FfnDimMultiplier = c.GetOptionalDouble("ffn_dim_multiplier"),
            NormEps = c.GetDouble("norm_eps", d.NormEps),
            LearnSigma = c.GetBool("learn_sigma", d.LearnSigma),
            QkNorm = c.GetBool("qk_norm", d.QkNorm),
            CrossAttentionDim = c.GetInt("cross_attention_dim", d.CrossAttentionDim),
            ScalingFactor = c.GetDouble("scaling_factor", d.ScalingFactor),
        };
        cfg.Validate(c);
        return cfg;
    }

    private void Validate(JsonConfig c)
    {
        c.RequirePositive("sample_size", SampleSize);
        c.RequirePositive("patch_size", PatchSize);
        c.RequirePositive("in_channels", InChannels);
        c.RequirePositive("hidden_size", HiddenSize);
        c.RequirePositive("num_layers", NumLayers);
        c.RequirePositive("num_attention_heads", NumAttentionHeads);
        c.RequirePositive("multiple_of", MultipleOf);
        c.RequirePositive("cross_attention_dim", CrossAttentionDim);
        if (NumKvHeads is int kv)
        {
            c.RequirePositive("num_kv_heads", kv);
            // diffusers repeats each kv head heads/kv times; any other ratio gives a head-count mismatch in SDPA.
            if (NumAttentionHeads % kv != 0)
                throw c.Unsupported("num_kv_heads", kv, $"num_attention_heads {NumAttentionHeads} must be a multiple of it");
        }
        // diffusers asserts this: the 2-D RoPE splits each head into row and column halves of complex pairs.
        if (HeadDim == 0 || HeadDim % 4 != 0)
            throw c.Unsupported("hidden_size", HiddenSize,
                $"hidden_size // num_attention_heads = {HeadDim} must be a positive multiple of 4 (2-D RoPE)");
        if (!(NormEps > 0) || double.IsInfinity(NormEps))
            throw c.Unsupported("norm_eps", NormEps, "it must be a positive number");
        if (FfnDimMultiplier is double m && (!(m > 0) || double.IsInfinity(m) || FfnInnerDim <= 0))
            throw c.Unsupported("ffn_dim_multiplier", m, "it must be positive and leave a positive FFN width");
        // default_image_size // 16 must be ≥ 2 for the proportional-attention base (log base 1 or 0 is undefined).
        if (SampleSize * 8 / 16 < 2)
            throw c.Unsupported("sample_size", SampleSize, "the pipeline's proportional-attention base (sample_size·8/16)² needs sample_size ≥ 4");
    }
}
