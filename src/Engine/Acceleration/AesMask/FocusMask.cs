namespace AccelAes.Engine.Acceleration.AesMask;

/// <summary>
/// The result of AesMask on one token grid: the soft mask (for spatial CFG), the focus / background token
/// sets (for SkipSparse), and how they were obtained. Token index <c>p = y·Width + x</c> (row-major, the
/// patch order of every backbone's patch embedding).
/// </summary>
/// <remarks>
/// <para><b>Fallback</b> (the heat map was too flat: unbiased std &lt; 0.12 after min-max): the reference code's
/// <c>build_mask_from_cross_attention</c> returns <c>None</c> and the run continues without a mask. Here that
/// is a mask with <see cref="Fallback"/> set, every token in focus (so sparse steps compute everything, i.e.
/// run dense), an all-ones <see cref="Soft"/> and no <see cref="Binary"/>; spatial guidance then uses the
/// uniform <c>cfg_scale</c> (engine semantics, see <see cref="SpatialGuidance"/>).</para>
/// <para><b>Token mask</b>: <c>Soft[p] &gt; 0.5</c> on the float32 soft mask. The reference casts the soft mask to
/// the model dtype (bf16) first, which rounds values in (0.5, 0.50195] down to 0.5 and drops those tokens; the
/// engine does not (DESIGN §5, goldens' <c>token_mask_f32</c>).</para>
/// </remarks>
public sealed class FocusMask
{
    internal FocusMask(int height, int width, float[] heat, float[] heatNormalised, float heatStd, bool fallback,
        double threshold, bool[]? binary, float[] soft, bool[] focus)
    {
        Height = height;
        Width = width;
        Heat = heat;
        HeatNormalised = heatNormalised;
        HeatStd = heatStd;
        Fallback = fallback;
        Threshold = threshold;
        Binary = binary;
        Soft = soft;
        IsFocus = focus;

        int n = 0;
        foreach (bool f in focus) n += f ? 1 : 0;
        var fg = new int[n];
        var bg = new int[focus.Length - n];
        int a = 0, b = 0;
        for (int p = 0; p < focus.Length; p++)
        {
            if (focus[p]) fg[a++] = p;
            else bg[b++] = p;
        }

        FocusIndices = fg;
        BackgroundIndices = bg;
    }

    /// <summary>
    /// A mask from a soft mask computed elsewhere (e.g. the device-side finalisation kernel): focus = <c>soft &gt; 0.5</c>.
    /// <see cref="Heat"/> and <see cref="HeatNormalised"/> are the soft mask itself, <see cref="Threshold"/> is 0.5, no
    /// binary mask, not a fallback.
    /// </summary>
    public static FocusMask FromSoft(int height, int width, ReadOnlySpan<float> soft)
    {
        if (height < 1 || width < 1 || soft.Length != height * width)
            throw new ArgumentException($"A {height} × {width} mask needs {Math.Max(0, height) * Math.Max(0, width)} soft values, got {soft.Length}.");
        float[] values = soft.ToArray();
        var focus = new bool[values.Length];
        for (int p = 0; p < values.Length; p++)
        {
            if (!(values[p] >= 0f && values[p] <= 1f)) throw new AccelAesException($"Soft mask value {values[p]} at token {p} is outside [0, 1].");
            focus[p] = values[p] > 0.5f;
        }

        return new FocusMask(height, width, values, values, MaskFinalisation.UnbiasedStd(values), fallback: false, 0.5, null, values, focus);
    }

    /// <summary>Every token in focus (soft mask all ones): sparse steps then compute every row, i.e. equal dense steps.</summary>
    public static FocusMask Everything(int height, int width)
    {
        var ones = new float[Math.Max(0, height) * Math.Max(0, width)];
        Array.Fill(ones, 1f);
        return FromSoft(height, width, ones);
    }

    /// <summary>Token grid rows (patch rows: latent height / patch size).</summary>
    public int Height { get; }

    /// <summary>Token grid columns.</summary>
    public int Width { get; }

    /// <summary>Number of image tokens, <c>Height · Width</c>.</summary>
    public int TokenCount => Height * Width;

    /// <summary>The aggregated heat map the mask was built from (before min-max).</summary>
    public float[] Heat { get; }

    /// <summary>The heat map after float32 min-max (<c>(x − min) / (max − min + 1e-8)</c>); the input if max == min.</summary>
    public float[] HeatNormalised { get; }

    /// <summary>Unbiased standard deviation of <see cref="HeatNormalised"/>.</summary>
    public float HeatStd { get; }

    /// <summary>True when the heat map was too flat and no mask is used (all tokens in focus).</summary>
    public bool Fallback { get; }

    /// <summary>The threshold the binary mask was cut at (<c>x ≥ threshold</c>); NaN on fallback.</summary>
    public double Threshold { get; }

    /// <summary>The thresholded mask before the blur; null on fallback.</summary>
    public bool[]? Binary { get; }

    /// <summary>The soft mask in [0, 1] (blurred binary mask); all ones on fallback.</summary>
    public float[] Soft { get; }

    /// <summary>Per token: in focus (<c>Soft &gt; 0.5</c>, every token on fallback).</summary>
    public bool[] IsFocus { get; }

    /// <summary>Focus token indices, ascending (row-major order): the queries sparse steps compute.</summary>
    public int[] FocusIndices { get; }

    /// <summary>Background token indices, ascending: the rows sparse steps take from the cache.</summary>
    public int[] BackgroundIndices { get; }

    /// <summary>|focus| / N: the <c>f</c> of the sparse cost model.</summary>
    public double FocusFraction => (double)FocusIndices.Length / TokenCount;

    /// <summary>True when every token is in focus (a sparse step then equals a dense one).</summary>
    public bool IsEverything => BackgroundIndices.Length == 0;
}
