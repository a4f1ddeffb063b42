using AccelAes.Engine.Acceleration.AesMask;

namespace AccelAes.Engine.Acceleration;

/// <summary>
/// The guidance scale of one step on the latent grid: either one value, or a map
/// <c>s = s_bg + m·(s_fg − s_bg)</c> (row-major <see cref="Height"/> × <see cref="Width"/>).
/// </summary>
public sealed class GuidanceScaleMap
{
    private GuidanceScaleMap(float uniform, float[]? map, int height, int width)
    {
        Uniform = uniform;
        Map = map;
        Height = height;
        Width = width;
    }

    /// <summary>A single scale for every position.</summary>
    public static GuidanceScaleMap UniformScale(float scale, int height, int width) => new(scale, null, height, width);

    /// <summary>A per-position map.</summary>
    public static GuidanceScaleMap FromMap(float[] map, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(map);
        if (map.Length != height * width) throw new ArgumentException($"A {height} × {width} scale map needs {height * width} values, got {map.Length}.");
        return new(float.NaN, map, height, width);
    }

    /// <summary>True when one scale applies everywhere (<see cref="Uniform"/>).</summary>
    public bool IsUniform => Map is null;

    /// <summary>The scale when <see cref="IsUniform"/>; NaN otherwise.</summary>
    public float Uniform { get; }

    /// <summary>Row-major per-position scales; null when uniform.</summary>
    public float[]? Map { get; }

    /// <summary>Latent rows.</summary>
    public int Height { get; }

    /// <summary>Latent columns.</summary>
    public int Width { get; }

    /// <summary>The scale at latent position (y, x).</summary>
    public float At(int y, int x) => Map is null ? Uniform : Map[y * Width + x];

    /// <summary>Every position's scale (the uniform value repeated when uniform).</summary>
    public float[] ToArray()
    {
        if (Map is not null) return (float[])Map.Clone();
        var a = new float[Height * Width];
        Array.Fill(a, Uniform);
        return a;
    }
}

/// <summary>
/// Spatial CFG: the guidance scale map from the AesMask soft mask. Tokens are patches, so the token-grid map is
/// nearest-upsampled by the patch size to the latent grid (the reference's <c>F.interpolate(mode="nearest")</c>
/// 64→128: each token value covers its p × p latent block).
/// </summary>
/// <remarks>
/// <para>Arithmetic (float32, the reference's <c>s_bg + m * (s_fg - s_bg)</c> with Python-float scales):
/// <c>fl32(s_bg + fl32(m · fl32(s_fg − s_bg)))</c>, no fused multiply-add. The engine uses the float32 soft mask;
/// the reference rounds it and the products to bf16 on its GPU path.</para>
/// <para>When: uniform <c>cfg_scale</c> before <c>mask_step</c>; from <c>mask_step</c> on (inclusive: the capture
/// forward's own CFG combine already uses the map) the map. When the mask fell back, the engine uses uniform
/// <c>cfg_scale</c> (DESIGN §5; the reference code jumps to uniform <c>s_fg</c>, available as
/// <see cref="FallbackGuidance.ReferenceForegroundScale"/>).</para>
/// </remarks>
public static class SpatialGuidance
{
    /// <summary>
    /// The latent-grid scale map of a token-grid mask <paramref name="mask"/> (<paramref name="rows"/> × <paramref name="cols"/>),
    /// upsampled by <paramref name="patchSize"/>: <c>(rows·p) × (cols·p)</c>, row-major.
    /// </summary>
    public static float[] ScaleMap(ReadOnlySpan<float> mask, int rows, int cols, int patchSize, double foregroundScale, double backgroundScale)
    {
        if (rows <= 0 || cols <= 0 || mask.Length != rows * cols)
            throw new ArgumentException($"The mask has {mask.Length} values, which is not a {rows} × {cols} grid.");
        if (patchSize < 1) throw new ArgumentOutOfRangeException(nameof(patchSize), patchSize, "the patch size is at least 1");
        float sBg = (float)backgroundScale;
        float range = (float)(foregroundScale - backgroundScale);
        int w = cols * patchSize;
        var map = new float[rows * patchSize * w];
        for (int y = 0; y < rows * patchSize; y++)
        {
            int row = y / patchSize * cols;
            for (int x = 0; x < w; x++)
            {
                float scaled = mask[row + x / patchSize] * range;
                map[y * w + x] = sBg + scaled;
            }
        }

        return map;
    }

    /// <summary>
    /// The guidance of step <paramref name="step"/> on the latent grid of a run with <paramref name="options"/>.
    /// <paramref name="mask"/> is the AesMask result once the capture step ran (null before).
    /// </summary>
    /// <exception cref="InvalidOperationException">Spatial CFG is on, the step is at or after the mask step, and no mask is given.</exception>
    public static GuidanceScaleMap ForStep(AccelerationOptions options, int step, FocusMask? mask, int latentHeight, int latentWidth)
    {
        ArgumentNullException.ThrowIfNull(options);
        float cfg = (float)options.GuidanceScale;
        if (!options.SpatialCfg || options.MaskStep is not int maskStep || step < maskStep)
            return GuidanceScaleMap.UniformScale(cfg, latentHeight, latentWidth);
        if (mask is null)
            throw new InvalidOperationException($"Spatial CFG at step {step} needs the AesMask of step {maskStep}, which was not given.");
        if (mask.Fallback)
        {
            float s = options.FallbackGuidance == FallbackGuidance.ReferenceForegroundScale ? (float)options.ForegroundScale : cfg;
            return GuidanceScaleMap.UniformScale(s, latentHeight, latentWidth);
        }

        if (latentHeight % mask.Height != 0 || latentWidth % mask.Width != 0 || latentHeight / mask.Height != latentWidth / mask.Width)
            throw new AccelAesException($"The latent grid {latentHeight} × {latentWidth} is not a whole patch multiple of the mask's token grid {mask.Height} × {mask.Width}.");
        int patch = latentHeight / mask.Height;
        return GuidanceScaleMap.FromMap(ScaleMap(mask.Soft, mask.Height, mask.Width, patch, options.ForegroundScale, options.BackgroundScale), latentHeight, latentWidth);
    }
}
