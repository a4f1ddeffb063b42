namespace AccelAes.Loader.Diffusers.Configs;

/// <summary>
/// <c>FlowMatchEulerDiscreteScheduler</c> config (diffusers scheduling_flow_match_euler_discrete.py).
/// Options whose behaviour the engine does not implement are refused by name rather than ignored.
/// </summary>
public sealed record FlowMatchEulerSchedulerConfig
{
    public const string ClassName = "FlowMatchEulerDiscreteScheduler";

    public int NumTrainTimesteps { get; init; } = 1000;
    public double Shift { get; init; } = 1.0;
    public bool UseDynamicShifting { get; init; }
    public double BaseShift { get; init; } = 0.5;
    public double MaxShift { get; init; } = 1.15;
    public int BaseImageSeqLen { get; init; } = 256;
    public int MaxImageSeqLen { get; init; } = 4096;
    public double? ShiftTerminal { get; init; }
    public bool UseKarrasSigmas { get; init; }
    public bool UseExponentialSigmas { get; init; }
    /// <summary>"exponential" or "linear".</summary>
    public string TimeShiftType { get; init; } = "exponential";

    /// <summary>Whether the config file set <c>max_shift</c> / <c>base_shift</c> (pipelines default them differently when absent).</summary>
    public bool HasMaxShift { get; init; }
    public bool HasBaseShift { get; init; }

    public static FlowMatchEulerSchedulerConfig From(JsonConfig c)
    {
        string? cls = c.ClassName;
        if (cls is not null && cls != ClassName)
            throw c.Unsupported("_class_name", cls, $"the engine samples with {ClassName} only");
        foreach (string flag in new[] { "invert_sigmas", "use_beta_sigmas", "stochastic_sampling" })
            if (c.GetBool(flag, false))
                throw c.Unsupported(flag, true, "not implemented by the engine");
        var cfg = new FlowMatchEulerSchedulerConfig
        {
            NumTrainTimesteps = c.GetInt("num_train_timesteps", 1000),
            Shift = c.GetDouble("shift", 1.0),
            UseDynamicShifting = c.GetBool("use_dynamic_shifting", false),
            BaseShift = c.GetOptionalDouble("base_shift") ?? 0.5,
            MaxShift = c.GetOptionalDouble("max_shift") ?? 1.15,
            HasBaseShift = c.Has("base_shift"),
            HasMaxShift = c.Has("max_shift"),
            BaseImageSeqLen = c.GetInt("base_image_seq_len", 256),
            MaxImageSeqLen = c.GetInt("max_image_seq_len", 4096),
            ShiftTerminal = c.GetOptionalDouble("shift_terminal") is double t && t != 0 ? t : null,
            UseKarrasSigmas = c.GetBool("use_karras_sigmas", false),
            UseExponentialSigmas = c.GetBool("use_exponential_sigmas", false),
            TimeShiftType = c.GetChoice("time_shift_type", "exponential", "exponential", "linear")!,
        };
        if (cfg.NumTrainTimesteps <= 0) throw c.Unsupported("num_train_timesteps", cfg.NumTrainTimesteps, "it must be positive");
        if (cfg.Shift <= 0) throw c.Unsupported("shift", cfg.Shift, "it must be positive");
        if (cfg.UseKarrasSigmas && cfg.UseExponentialSigmas)
            throw c.Unsupported("use_exponential_sigmas", true, "only one of use_karras_sigmas / use_exponential_sigmas may be set");
        if (cfg.UseDynamicShifting && cfg.MaxImageSeqLen == cfg.BaseImageSeqLen)
            throw c.Unsupported("max_image_seq_len", cfg.MaxImageSeqLen, "it must differ from base_image_seq_len for dynamic shifting");
        return cfg;
    }
}
