using System.Globalization;

namespace AccelAes.Loader.Validation;

/// <summary>
/// Range checks on values a user types or a file claims, with one wording: "NAME is VALUE; it must be …". The name is
/// the caller's (a CLI option such as <c>--steps</c>, a C ABI field such as <c>accelaes_generate_options.steps</c>, a
/// config field), so the same rule reads naturally wherever it is broken.
/// </summary>
public static class ValueChecks
{
    /// <summary>A whole number in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static int Count(int value, string name, int min, int max)
    {
        if (value < min || value > max)
            throw new AccelAesException($"{name} is {value}; it must be between {min} and {max}.");
        return value;
    }

    /// <summary>A finite number in [<paramref name="min"/>, <paramref name="max"/>]: NaN and ±∞ are refused by name.</summary>
    public static double Finite(double value, string name, double min, double max)
    {
        if (double.IsNaN(value))
            throw new AccelAesException($"{name} is NaN; it must be a number between {Text(min)} and {Text(max)}.");
        if (!double.IsFinite(value) || value < min || value > max)
            throw new AccelAesException($"{name} is {Text(value)}; it must be between {Text(min)} and {Text(max)}.");
        return value;
    }

    /// <summary>A fraction in (0, 1].</summary>
    public static double Fraction(double value, string name)
    {
        if (!(value > 0 && value <= 1))
            throw new AccelAesException($"{name} is {Text(value)}; it must be a fraction above 0 and at most 1.");
        return value;
    }

    private static string Text(double value) => value.ToString("G6", CultureInfo.InvariantCulture);
}
