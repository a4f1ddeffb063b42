using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Sampling;

/// <summary>The σ schedule of one run: model timesteps (1000·σ) per step and σ per step plus the terminal 0.</summary>
public sealed record SigmaSchedule(float[] Timesteps, float[] Sigmas)
{
    public int Steps => Timesteps.Length;

    /// <summary>Euler step size of step i: σᵢ₊₁ − σᵢ (negative), in fp32 as torch computes it.</summary>
    public float StepSize(int i) => Sigmas[i + 1] - Sigmas[i];
}

/// <summary>
/// diffusers <c>FlowMatchEulerDiscreteScheduler.set_timesteps</c>, reproduced operation by operation in the
/// precision diffusers uses, so schedules match bit for bit: the default path works in float64 numpy
/// (then rounds to fp32), an explicit <c>sigmas</c> list works in float32 numpy. This matters: SD3's default
/// schedule ends at σ = 0.008929 because <c>sigma_min</c> is taken from the already-shifted training table
/// and shifted again (architectures.md §0.10).
/// </summary>
public sealed class FlowMatchEulerScheduler
{
    private readonly FlowMatchEulerSchedulerConfig _config;
    private readonly double _sigmaMin, _sigmaMax;

    public FlowMatchEulerScheduler(FlowMatchEulerSchedulerConfig config)
    {
        _config = config;
        // __init__: the training table σ_k = k / T (float32), shifted in float32 unless shifting is dynamic.
        int t = config.NumTrainTimesteps;
        float first = t / (float)t, last = 1f / t;
        if (!config.UseDynamicShifting)
        {
            first = StaticShiftF32(first, config.Shift);
            last = StaticShiftF32(last, config.Shift);
        }
        _sigmaMax = first;
        _sigmaMin = last;
    }

    public FlowMatchEulerSchedulerConfig Config => _config;

    /// <summary>
    /// The schedule for <paramref name="steps"/> steps. <paramref name="sigmas"/>: explicit start values (FLUX
    /// passes linspace(1, 1/N, N)); <paramref name="mu"/>: required when the config uses dynamic shifting.
    /// </summary>
    public SigmaSchedule SetTimesteps(int steps, double[]? sigmas = null, double? mu = null)
    {
        if (steps <= 0) throw new AccelAesException($"The number of steps must be positive, got {steps}.");
        if (sigmas is not null && sigmas.Length != steps)
            throw new AccelAesException($"{sigmas.Length} sigmas were given for {steps} steps.");
        if (_config.UseDynamicShifting && mu is null)
            throw new AccelAesException("This scheduler uses dynamic shifting, which needs mu (computed from the image size).");

        // numpy float64 on the default path, float32 when the caller passed sigmas.
        bool f32 = sigmas is not null;
        Func<double, double> round = f32 ? x => (float)x : x => x;
        double[] s;
        if (sigmas is null)
        {
            double[] t = Linspace(_sigmaMax * _config.NumTrainTimesteps, _sigmaMin * _config.NumTrainTimesteps, steps);
            s = t.Select(v => v / _config.NumTrainTimesteps).ToArray();
        }
        else
        {
            s = sigmas.Select(v => (double)(float)v).ToArray();
        }

        if (_config.UseDynamicShifting)
        {
            double m = mu!.Value;
            // exponential: e^μ / (e^μ + (1/σ − 1)); linear: μ / (μ + (1/σ − 1)) — exponent sigma = 1.0.
            double a = round(_config.TimeShiftType == "exponential" ? Math.Exp(m) : m);
            s = s.Select(v => round(a / round(a + round(round(1.0 / v) - 1.0)))).ToArray();
        }
        else
        {
            double shift = _config.Shift;
            s = s.Select(v => round(round(shift * v) / round(1.0 + round((shift - 1.0) * v)))).ToArray();
        }

        if (_config.ShiftTerminal is double terminal)
        {
            double scaleFactor = round(round(1.0 - s[^1]) / round(1.0 - terminal));
            s = s.Select(v => round(1.0 - round(round(1.0 - v) / scaleFactor))).ToArray();
        }

        if (_config.UseKarrasSigmas) s = Karras(s[^1], s[0], steps);
        else if (_config.UseExponentialSigmas) s = Exponential(s[^1], s[0], steps);

        var sig = new float[steps + 1];
        var ts = new float[steps];
        for (int i = 0; i < steps; i++)
        {
            sig[i] = (float)s[i];
            ts[i] = sig[i] * _config.NumTrainTimesteps; // torch float32 multiply
        }
        sig[steps] = 0f;
        CheckFinite(sig, steps, mu);
        return new SigmaSchedule(ts, sig);
    }

    /// <summary>
    /// The config's fields are range-checked where they are read; what is left (a μ extrapolated from a huge image, a
    /// shift_terminal stretch with one step) is caught here, naming the fields that made σ, before a model runs on it.
    /// </summary>
    private void CheckFinite(float[] sigmas, int steps, double? mu)
    {
        int bad = Array.FindIndex(sigmas, v => !float.IsFinite(v) || v < 0f);
        if (bad < 0) return;
        var fields = new List<string> { $"shift {_config.Shift}" };
        if (_config.UseDynamicShifting) fields.Add($"use_dynamic_shifting with μ = {mu:G6} (base_shift {_config.BaseShift}, max_shift {_config.MaxShift})");
        if (_config.ShiftTerminal is double terminal) fields.Add($"shift_terminal {terminal}");
        if (_config.UseKarrasSigmas) fields.Add("use_karras_sigmas");
        if (_config.UseExponentialSigmas) fields.Add("use_exponential_sigmas");
        throw new AccelAesException(
            $"The scheduler config ({string.Join(", ", fields)}) gives σ = {sigmas[bad]} at step {bad} of a {steps}-step schedule; " +
            "σ must be finite and non-negative. Change those scheduler_config.json fields or the step count.");
    }

    /// <summary>diffusers / FLUX <c>calculate_shift</c>: μ linear in the image token count.</summary>
    public static double CalculateShift(int imageSeqLen, int baseSeqLen, int maxSeqLen, double baseShift, double maxShift)
    {
        double m = (maxShift - baseShift) / (maxSeqLen - baseSeqLen);
        double b = baseShift - m * baseSeqLen;
        return imageSeqLen * m + b;
    }

    /// <summary>numpy.linspace(start, stop, num) in float64, endpoint included.</summary>
    internal static double[] Linspace(double start, double stop, int num)
    {
        var y = new double[num];
        if (num == 1) { y[0] = start; return y; }
        double step = (stop - start) / (num - 1);
        for (int i = 0; i < num; i++) y[i] = i * step + start;
        y[^1] = stop;
        return y;
    }

    /// <summary>torch float32: the Python scalars are rounded to fp32, then each operation rounds.</summary>
    private static float StaticShiftF32(float sigma, double shift)
    {
        float s = (float)shift, sMinus1 = (float)(shift - 1.0);
        return s * sigma / (1f + sMinus1 * sigma);
    }

    private static double[] Karras(double sigmaMin, double sigmaMax, int steps)
    {
        const double rho = 7.0;
        double minInv = Math.Pow(sigmaMin, 1 / rho), maxInv = Math.Pow(sigmaMax, 1 / rho);
        return Linspace(0, 1, steps).Select(r => Math.Pow(maxInv + r * (minInv - maxInv), rho)).ToArray();
    }

    private static double[] Exponential(double sigmaMin, double sigmaMax, int steps)
        => Linspace(Math.Log(sigmaMax), Math.Log(sigmaMin), steps).Select(Math.Exp).ToArray();
}
