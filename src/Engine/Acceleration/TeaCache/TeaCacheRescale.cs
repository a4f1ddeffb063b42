using System.Globalization;

namespace AccelAes.Engine.Acceleration.TeaCache;

/// <summary>
/// TeaCache's rescaling polynomial: maps the relative L1 change of the first block's modulated input to an
/// estimate of the relative change of the model output, fitted per backbone (the authors: <c>np.polyfit(x, y, 4)</c>
/// over every step of dense runs, x the input change, y the output change between consecutive steps).
/// Evaluated as numpy's <c>np.poly1d(coefficients)(x)</c>: Horner's rule in float64, highest power first.
/// </summary>
public sealed class TeaCacheRescale
{
    private readonly double[] _coefficients;

    private TeaCacheRescale(string name, double[] coefficients)
    {
        Name = name;
        _coefficients = coefficients;
    }

    /// <summary>Where the coefficients come from.</summary>
    public string Name { get; }

    /// <summary>Coefficients, highest power first (as <c>np.poly1d</c> takes them).</summary>
    public IReadOnlyList<double> Coefficients => _coefficients;

    /// <summary>
    /// FLUX.1 (fitted on FLUX.1-dev): <c>coefficients = [4.98651651e+02, -2.83781631e+02, 5.58554382e+01,
    /// -3.82021401e+00, 2.64230861e-01]</c> in <c>teacache_forward</c> of ali-vilab/TeaCache
    /// TeaCache4FLUX/teacache_flux.py at commit 7c10efc4702c6b619f47805f7abe4a7a08085aa0.
    /// </summary>
    public static TeaCacheRescale Flux { get; } = new("FLUX (TeaCache4FLUX, ali-vilab/TeaCache@7c10efc)",
        [4.98651651e+02, -2.83781631e+02, 5.58554382e+01, -3.82021401e+00, 2.64230861e-01]);

    /// <summary>
    /// Lumina-Next-SFT: <c>coefficients = [393.76566581, -603.50993606, 209.10239044, -23.00726601, 0.86377344]</c> in
    /// <c>teacache_forward</c> of ali-vilab/TeaCache TeaCache4Lumina-T2X/teacache_lumina_next.py at commit
    /// 7c10efc4702c6b619f47805f7abe4a7a08085aa0 (signal: <c>layers[0].norm1(x, temb)</c>'s modulated output, as here).
    /// </summary>
    public static TeaCacheRescale Lumina { get; } = new("Lumina-Next (TeaCache4Lumina-T2X, ali-vilab/TeaCache@7c10efc)",
        [393.76566581, -603.50993606, 209.10239044, -23.00726601, 0.86377344]);

    /// <summary>
    /// SD3 / SD3.5: the TeaCache authors published no coefficients for SD3 (ali-vilab/TeaCache@7c10efc has no
    /// TeaCache4SD3). These are fitted as the authors describe (issue ali-vilab/TeaCache#2: <c>np.polyfit(x, y, 4)</c>
    /// over every step, x = relative L1 change of joint block 0's modulated image input, y = relative L1 change of the
    /// transformer output, consecutive steps, the CFG batch as one tensor) — but on the only SD3 this engine can run
    /// offline, the tiny random-weight test model (tests: TeaCacheCoefficientFitTests), 28-step runs from several
    /// latents (x in [0.147, 0.527], y in [0.165, 0.691]). They are a placeholder with the right form, not a
    /// calibration of real SD3 weights (outside the fitted x range the polynomial is meaningless, e.g. negative below
    /// x ≈ 0.09): pass <c>coefficients=a,b,c,d,e</c> fitted on the real model.
    /// </summary>
    public static TeaCacheRescale Sd3 { get; } = new("SD3 (fitted on the tiny random-weight SD3 test model; not official, override with coefficients=)",
        [-166.30287216210073, 206.955693404464, -92.98998701966977, 18.46729823074799, -1.0544312572887578]);

    /// <summary>The polynomial of a backbone: official where the authors published one (FLUX, Lumina-Next), else fitted (SD3).</summary>
    public static TeaCacheRescale For(Backbone backbone) => backbone switch
    {
        Backbone.Flux => Flux,
        Backbone.Lumina => Lumina,
        Backbone.Sd3 => Sd3,
        _ => throw new ArgumentOutOfRangeException(nameof(backbone), backbone, "unknown backbone"),
    };

    /// <summary>The knob <c>coefficients</c>, when given, else the backbone's polynomial.</summary>
    public static TeaCacheRescale For(Backbone backbone, IReadOnlyList<double>? coefficients) =>
        coefficients is null ? For(backbone) : Custom(coefficients);

    /// <summary>User-supplied coefficients, highest power first (any degree ≥ 0).</summary>
    public static TeaCacheRescale Custom(IReadOnlyList<double> coefficients)
    {
        if (coefficients.Count == 0 || coefficients.Any(c => !double.IsFinite(c)))
            throw new AccelAesException("coefficients: give at least one finite number, highest power first (e.g. coefficients=a,b,c,d,e).");
        return new TeaCacheRescale("coefficients= (user-supplied)", [.. coefficients]);
    }

    /// <summary>The coefficients as the knob <c>coefficients</c> spells them (round-trip numbers).</summary>
    public string KnobValue => string.Join(",", _coefficients.Select(c => c.ToString("R", CultureInfo.InvariantCulture)));

    /// <summary>poly(x), Horner's rule in float64: y = c₀; y = y·x + cᵢ for each following coefficient.</summary>
    public double Evaluate(double x)
    {
        double y = _coefficients[0];
        for (int i = 1; i < _coefficients.Length; i++) y = y * x + _coefficients[i];
        return y;
    }
}
