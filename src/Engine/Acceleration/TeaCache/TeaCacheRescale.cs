namespace AccelAes.Engine.Acceleration.TeaCache;

/// <summary>
/// TeaCache's rescaling polynomial: maps the relative L1 change of the first block's modulated input to an
/// estimate of the relative change of the model output, fitted per backbone by the TeaCache authors.
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
    /// TeaCache4FLUX/teacache_flux.py at commit 7c10efc4702c6b619f47805f7abe4a7a08085aa0. The authors published
    /// coefficients for FLUX only among the backbones this engine runs (SD3 and Lumina-Next have none there).
    /// </summary>
    public static TeaCacheRescale Flux { get; } = new("FLUX (TeaCache4FLUX, ali-vilab/TeaCache@7c10efc)",
        [4.98651651e+02, -2.83781631e+02, 5.58554382e+01, -3.82021401e+00, 2.64230861e-01]);

    /// <summary>poly(x), Horner's rule in float64: y = c₀; y = y·x + cᵢ for each following coefficient.</summary>
    public double Evaluate(double x)
    {
        double y = _coefficients[0];
        for (int i = 1; i < _coefficients.Length; i++) y = y * x + _coefficients[i];
        return y;
    }
}
