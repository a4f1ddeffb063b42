using System.Globalization;
using System.Text.RegularExpressions;

namespace AccelAes.Engine.Planning;

/// <summary>Byte counts as users type them (<c>32GiB</c>, <c>24GB</c>, <c>81920MiB</c>, <c>1000000</c>) and as the plan prints them.</summary>
public static partial class ByteSize
{
    /// <summary>Upper bound of a typed size (1 PiB): larger than any device, small enough that no sum overflows.</summary>
    public const long MaxBytes = 1L << 50;

    /// <summary>Parses <paramref name="text"/>; units KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB of 1024, none is bytes.</summary>
    public static long Parse(string text, string option)
    {
        var m = SizePattern().Match(text.Trim());
        if (!m.Success || !double.TryParse(m.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
            throw new AccelAesException($"{option} must be a size such as 32GiB, 24GB or 80000MiB, got '{text}'.");
        double unit = m.Groups[2].Value.ToUpperInvariant() switch
        {
            "" or "B" => 1,
            "KB" => 1e3, "MB" => 1e6, "GB" => 1e9, "TB" => 1e12,
            "KIB" => 1L << 10, "MIB" => 1L << 20, "GIB" => 1L << 30, _ => 1L << 40,
        };
        double bytes = value * unit;
        if (!(bytes >= 1) || bytes > MaxBytes)
            throw new AccelAesException($"{option} must be between 1 byte and 1 PiB, got '{text}'.");
        return (long)bytes;
    }

    /// <summary>"23.81 GB (22.17 GiB)": decimal first, as model cards and the issue quote sizes, binary as drivers report.</summary>
    public static string Format(long bytes)
    {
        var inv = CultureInfo.InvariantCulture;
        if (Math.Abs(bytes) < 1_000_000) return $"{(bytes / 1e3).ToString("F1", inv)} kB";
        if (Math.Abs(bytes) < 1_000_000_000) return $"{(bytes / 1e6).ToString("F1", inv)} MB";
        return $"{(bytes / 1e9).ToString("F2", inv)} GB";
    }

    /// <summary>Bytes as GiB with two decimals (the unit --memory is usually typed in).</summary>
    public static string Gib(long bytes) => (bytes / (double)(1L << 30)).ToString("F2", CultureInfo.InvariantCulture) + " GiB";

    [GeneratedRegex(@"^([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|B)?$", RegexOptions.IgnoreCase)]
    private static partial Regex SizePattern();
}
