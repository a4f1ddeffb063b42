using AccelAes.Loader.Validation;

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
        CheckShifts(c, cfg);
        if (cfg.UseKarrasSigmas && cfg.UseExponentialSigmas)
            throw c.Unsupported("use_exponential_sigmas", true, "only one of use_karras_sigmas / use_exponential_sigmas may be set");
        if (cfg.UseDynamicShifting && cfg.MaxImageSeqLen == cfg.BaseImageSeqLen)
            throw c.Unsupported("max_image_seq_len", cfg.MaxImageSeqLen, "it must differ from base_image_seq_len for dynamic shifting");
        return cfg;
    }

    /// <summary>
    /// The shifts bend the σ schedule, and the scheduler computes with them in float32 as diffusers does: a value far
    /// outside what models use turns every σ into 0, 1 or NaN. Refused here, naming the field, rather than as a
    /// non-finite latent at step 0. Ranges in <see cref="InputLimits"/>.
    /// </summary>
    private static void CheckShifts(JsonConfig c, FlowMatchEulerSchedulerConfig cfg)
    {
        if (!(cfg.Shift >= InputLimits.MinSchedulerShift && cfg.Shift <= InputLimits.MaxSchedulerShift))
            throw c.Unsupported("shift", cfg.Shift,
                $"it must lie in {InputLimits.MinSchedulerShift}…{InputLimits.MaxSchedulerShift}: σ' = shift·σ / (1 + (shift − 1)·σ), " +
                "released models use 1–7, and far outside that range every σ is squeezed to 0 or 1, or to NaN in float32");
        if (cfg.ShiftTerminal is double terminal && !(terminal > 0 && terminal < 1))
            throw c.Unsupported("shift_terminal", terminal,
                "it must lie strictly between 0 and 1 (or be 0 / null for none): it is the σ the schedule is stretched to end at, " +
                "and the stretch divides by 1 − shift_terminal");
        foreach (var (field, value) in new[] { ("base_shift", cfg.BaseShift), ("max_shift", cfg.MaxShift) })
            if (!(Math.Abs(value) <= InputLimits.MaxSchedulerShiftExponent))
                throw c.Unsupported(field, value,
                    $"it must lie in −{InputLimits.MaxSchedulerShiftExponent}…{InputLimits.MaxSchedulerShiftExponent}: it is μ, an exponent " +
                    "(σ' = e^μ / (e^μ + 1/σ − 1)), released models use 0.5–1.16, and beyond that range e^μ maps every σ to 1 or overflows");
    }
}
