using System.Globalization;

namespace AccelAes.Engine.Acceleration.Ras;

/// <summary>How RAS ranks image tokens (the official <c>--metric</c>).</summary>
public enum RasMetric
{
    /// <summary>Per latent pixel the standard deviation over channels of Δσ·v, averaged over the token's patch.</summary>
    Std,

    /// <summary>Per latent pixel the L2 norm over channels of Δσ·v, averaged over the token's patch.</summary>
    L2Norm,
}

/// <summary>
/// RAS's knobs (Liu et al. 2025, "Region-Adaptive Sampling for Diffusion Transformers"), named as the official code's
/// arguments (microsoft/RAS src/ras/utils/ras_argparser.py at commit a9c5ec8fb2147ef450a7e3b5ec3b7bdd0006de3f). Only the
/// arguments that change the math are knobs: <c>replace_with_flash_attn</c> and <c>enable_index_fusion</c> pick kernels
/// for the same values, and <c>patch_size</c>, <c>height</c>, <c>width</c>, <c>num_inference_steps</c> are the model's
/// and the run's own. <see cref="Default"/> is the argparser's defaults; <see cref="Published"/> the authors' scripts.
/// </summary>
public sealed record RasSettings
{
    /// <summary><c>sample_ratio</c>: the average fraction of image tokens a RAS step recomputes, in (0, 1]; 1 recomputes every token.</summary>
    public double SampleRatio { get; init; } = 0.5;

    /// <summary><c>scheduler_start_step</c>: the first RAS step; the step before it is dense and fills the key/value caches.</summary>
    public int StartStep { get; init; } = 4;

    /// <summary><c>scheduler_end_step</c>: RAS steps are those before it (the official selection stops there).</summary>
    public int EndStep { get; init; } = 30;

    /// <summary><c>error_reset_steps</c>: dense steps inside the RAS range that refill the key/value caches.</summary>
    public IReadOnlyList<int> ErrorResetSteps { get; init; } = [12, 22];

    /// <summary><c>metric</c>: what ranks the tokens.</summary>
    public RasMetric Metric { get; init; } = RasMetric.Std;

    /// <summary><c>high_ratio</c>: of the tokens a step drops, the fraction taken from the top of the ranking (the rest from the bottom).</summary>
    public double HighRatio { get; init; } = 1;

    /// <summary><c>starvation_scale</c>: a token's metric is multiplied by exp(starvation_scale · its drop count).</summary>
    public double StarvationScale { get; init; } = 0.1;

    /// <summary>
    /// <c>skip_num_step</c>: the dynamic schedule's change of the dropped-token count per block of
    /// <see cref="SkipNumStepLength"/> steps; null = <c>auto</c>, the Lumina-Next script's 256 at its 4096 tokens, scaled to the run's tokens.
    /// </summary>
    public int? SkipNumStep { get; init; }

    /// <summary><c>skip_num_step_length</c>: steps per block of the dynamic schedule; 0 = static (every RAS step drops the average).</summary>
    public int SkipNumStepLength { get; init; }

    /// <summary>The official argparser's defaults (what every preset but ras carries, unused).</summary>
    public static RasSettings Default { get; } = new() { SkipNumStep = 0 };

    /// <summary>The token count the Lumina-Next script's <c>skip_num_step</c> 256 and the 64-token rounding refer to (1024² at patch 2, VAE 8).</summary>
    public const int ReferenceTokens = 4096;

    /// <summary>
    /// The authors' settings per backbone (microsoft/RAS scripts/Stable_Diffusion_3_example.sh and
    /// scripts/Lumina_Next_T2I_example.sh at a9c5ec8), for their step counts (28 and 30).
    /// </summary>
    public static RasSettings Published(Backbone backbone) => backbone switch
    {
        Backbone.Sd3 => new RasSettings
        {
            SampleRatio = 0.5, StartStep = 4, EndStep = 28, ErrorResetSteps = [12, 20], Metric = RasMetric.Std, HighRatio = 0.3,
            StarvationScale = 1, SkipNumStep = 0, SkipNumStepLength = 0,
        },
        Backbone.Lumina => new RasSettings
        {
            SampleRatio = 0.5, StartStep = 4, EndStep = 30, ErrorResetSteps = [12, 22], Metric = RasMetric.Std, HighRatio = 1,
            StarvationScale = 0.1, SkipNumStep = null, SkipNumStepLength = 4,
        },
        // RAS has no FLUX script; validation refuses it, and the argparser's defaults stand in.
        _ => Default,
    };

    /// <summary>
    /// The step indices scaled from the published step count <paramref name="reference"/> to <paramref name="steps"/>, so
    /// RAS starts and resets at the same points of the trajectory: start = max(1, round(4·n/n₀)), each reset round(r·n/n₀)
    /// (kept when it is a step of the run), end = round(end·n/n₀).
    /// </summary>
    public RasSettings ScaledTo(int steps, int reference)
    {
        if (steps == reference) return this;
        int Scaled(int index) => (int)Math.Round(index * (double)steps / reference, MidpointRounding.AwayFromZero);
        return this with
        {
            StartStep = Math.Min(steps, Math.Max(1, Scaled(StartStep))),
            EndStep = Scaled(EndStep),
            ErrorResetSteps = ErrorResetSteps.Select(Scaled).Where(s => s < steps).Distinct().ToArray(),
        };
    }

    /// <summary>The knob names (as <c>--set</c> takes them) with their descriptions.</summary>
    public static IReadOnlyList<AccelerationKnob> Knobs { get; } =
    [
        new("sample_ratio", "ras: average fraction of image tokens a RAS step recomputes, in (0, 1]; 1 recomputes every token"),
        new("scheduler_start_step", "ras: first RAS step (the step before it is dense and fills the key/value caches), ≥ 1"),
        new("scheduler_end_step", "ras: RAS steps are those before this step"),
        new("error_reset_steps", "ras: dense steps that refill the key/value caches, e.g. 12,20, or none"),
        new("metric", "ras: std or l2norm of Δσ·v over channels, averaged over each token's patch, ranks the tokens"),
        new("high_ratio", "ras: fraction of the dropped tokens taken from the top of the ranking (the rest from the bottom), in [0, 1]"),
        new("starvation_scale", "ras: each token's metric is multiplied by exp(starvation_scale · times dropped)"),
        new("skip_num_step", "ras: dynamic schedule, change of the dropped-token count per block of steps; auto = 256 per 4096 tokens"),
        new("skip_num_step_length", "ras: steps per block of the dynamic schedule; 0 = static"),
    ];

    /// <summary>True when <paramref name="knob"/> (lower case, underscores) is one of RAS's.</summary>
    public static bool IsKnob(string knob) => Knobs.Any(k => k.Name == knob);

    private static readonly KnobVocabulary<RasMetric> MetricNames = new("metric",
        (RasMetric.Std, "std", []),
        (RasMetric.L2Norm, "l2norm", ["l2"]));

    /// <summary>The metric as the official <c>--metric</c> spells it.</summary>
    public static string MetricName(RasMetric metric) => MetricNames.Name(metric);

    /// <summary>A copy with one knob set from text; the message of a bad value names the knob.</summary>
    public RasSettings With(string knob, string value) => knob switch
    {
        "sample_ratio" => this with { SampleRatio = Number(knob, value) },
        "scheduler_start_step" => this with { StartStep = Int(knob, value) },
        "scheduler_end_step" => this with { EndStep = Int(knob, value) },
        "error_reset_steps" => this with { ErrorResetSteps = Steps(knob, value) },
        "metric" => this with { Metric = MetricNames.Parse(value) },
        "high_ratio" => this with { HighRatio = Number(knob, value) },
        "starvation_scale" => this with { StarvationScale = Number(knob, value) },
        "skip_num_step" => this with { SkipNumStep = value.Equals("auto", StringComparison.OrdinalIgnoreCase) ? null : Int(knob, value) },
        "skip_num_step_length" => this with { SkipNumStepLength = Int(knob, value) },
        _ => throw new ArgumentOutOfRangeException(nameof(knob), knob, "not a RAS knob"),
    };

    /// <summary>Every knob's value as text <see cref="With"/> reads back.</summary>
    public IEnumerable<KeyValuePair<string, string>> KnobValues()
    {
        var inv = CultureInfo.InvariantCulture;
        yield return new("sample_ratio", SampleRatio.ToString("R", inv));
        yield return new("scheduler_start_step", StartStep.ToString(inv));
        yield return new("scheduler_end_step", EndStep.ToString(inv));
        yield return new("error_reset_steps", ErrorResetSteps.Count == 0 ? "none" : string.Join(",", ErrorResetSteps.Select(s => s.ToString(inv))));
        yield return new("metric", MetricName(Metric));
        yield return new("high_ratio", HighRatio.ToString("R", inv));
        yield return new("starvation_scale", StarvationScale.ToString("R", inv));
        yield return new("skip_num_step", SkipNumStep is int n ? n.ToString(inv) : "auto");
        yield return new("skip_num_step_length", SkipNumStepLength.ToString(inv));
    }

    /// <summary>The largest |skip_num_step| and starvation_scale accepted: far beyond any token count or useful weighting.</summary>
    private const int MaxSkipNumStep = 1_000_000;

    private const double MaxStarvationScale = 1_000;

    /// <summary>Every problem with the knobs for a run of <paramref name="steps"/> steps, each message starting with the knob's name.</summary>
    public IEnumerable<string> Problems(int steps, int maxSteps)
    {
        if (!(SampleRatio > 0 && SampleRatio <= 1)) yield return $"sample_ratio: must be in (0, 1], got {SampleRatio}.";
        if (!(HighRatio >= 0 && HighRatio <= 1)) yield return $"high_ratio: must be in [0, 1], got {HighRatio}.";
        if (!(StarvationScale >= 0 && StarvationScale <= MaxStarvationScale))
            yield return $"starvation_scale: must be a number between 0 and {MaxStarvationScale}, got {StarvationScale}.";
        // The key/value caches are filled by the dense step before the first RAS step, so there must be one.
        if (StartStep < 1 || StartStep > steps)
            yield return $"scheduler_start_step: must be between 1 and {steps} for {steps} steps (step start−1 fills the key/value caches), got {StartStep}.";
        if (EndStep < 0 || EndStep > maxSteps) yield return $"scheduler_end_step: must be between 0 and {maxSteps}, got {EndStep}.";
        foreach (int s in ErrorResetSteps.Where(s => s < 0 || s >= steps))
            yield return $"error_reset_steps: step {s} is not a step of this run (0–{steps - 1}).";
        if (ErrorResetSteps.Distinct().Count() != ErrorResetSteps.Count) yield return "error_reset_steps: a step is listed twice.";
        if (SkipNumStep is int n && Math.Abs(n) > MaxSkipNumStep)
            yield return $"skip_num_step: must be between ±{MaxSkipNumStep} tokens, got {n}.";
        if (SkipNumStepLength < 0 || SkipNumStepLength > maxSteps)
            yield return $"skip_num_step_length: must be between 0 (static) and {maxSteps}, got {SkipNumStepLength}.";
    }

    /// <summary>Records compare lists by reference; settings are equal when every knob is.</summary>
    public bool Equals(RasSettings? other) => other is not null && KnobValues().SequenceEqual(other.KnobValues());

    public override int GetHashCode() => string.Join(";", KnobValues()).GetHashCode(StringComparison.Ordinal);

    private static int Int(string knob, string v) =>
        int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) ? r : throw Bad(knob, v, "an integer");

    private static double Number(string knob, string v) =>
        double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double r) ? r : throw Bad(knob, v, "a number");

    private static int[] Steps(string knob, string v)
    {
        if (v.Equals("none", StringComparison.OrdinalIgnoreCase) || v.Equals("off", StringComparison.OrdinalIgnoreCase)) return [];
        string[] parts = v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw Bad(knob, v, "step indices such as 12,20, or none");
        return parts.Select(p => Int(knob, p)).ToArray();
    }

    private static AccelAesException Bad(string knob, string value, string expected) => new($"{knob}: '{value}' is not valid; expected {expected}.");
}
