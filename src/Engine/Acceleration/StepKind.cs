namespace AccelAes.Engine.Acceleration;

/// <summary>What one denoising step does.</summary>
public enum StepKind
{
    /// <summary>A dense forward; nothing else.</summary>
    Full,

    /// <summary>A dense forward that also captures image→text attention on the capture layers for AesMask.</summary>
    FullCaptureMask,

    /// <summary>A dense forward that writes the SkipSparse caches (per layer: attention output and FFN output of every row). Also a background refresh.</summary>
    FullFillCache,

    /// <summary>Focus queries against global keys/values and the FFN on focus rows; background rows from the caches.</summary>
    Sparse,

    /// <summary>
    /// No transformer body: StepCache extrapolates the velocity, or TeaCache adds the residual cached at its last
    /// computed step to this step's embedded input (only the embedders and the output layer run). Under FBCache block 0
    /// runs and the remaining blocks' cached residual is added; under FORA every block adds its cached attention and MLP
    /// outputs through this step's gates (modulation only, no attention or MLP), under TaylorSeer their Taylor forecast.
    /// </summary>
    Skip,
}

/// <summary>Helpers on <see cref="StepKind"/>.</summary>
public static class StepKinds
{
    /// <summary>True when the step runs the transformer (every kind but <see cref="StepKind.Skip"/>).</summary>
    public static bool IsComputed(this StepKind kind) => kind != StepKind.Skip;

    /// <summary>True for the dense kinds.</summary>
    public static bool IsFull(this StepKind kind) => kind is StepKind.Full or StepKind.FullCaptureMask or StepKind.FullFillCache;

    /// <summary>The name used in JSON and by <c>accelaes explain</c>: full, full_capture_mask, full_fill_cache, sparse, skip.</summary>
    public static string JsonName(this StepKind kind) => kind switch
    {
        StepKind.Full => "full",
        StepKind.FullCaptureMask => "full_capture_mask",
        StepKind.FullFillCache => "full_fill_cache",
        StepKind.Sparse => "sparse",
        StepKind.Skip => "skip",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown step kind"),
    };

    /// <summary>Parses <see cref="JsonName"/>.</summary>
    public static StepKind ParseJsonName(string name) => name switch
    {
        "full" => StepKind.Full,
        "full_capture_mask" => StepKind.FullCaptureMask,
        "full_fill_cache" => StepKind.FullFillCache,
        "sparse" => StepKind.Sparse,
        "skip" => StepKind.Skip,
        _ => throw new AccelAesException($"Unknown step kind '{name}' (full, full_capture_mask, full_fill_cache, sparse, skip)."),
    };
}
