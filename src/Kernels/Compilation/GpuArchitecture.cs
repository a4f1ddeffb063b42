using System.Globalization;

namespace AccelAes.Kernels.Compilation;

/// <summary>
/// An NVRTC target: <c>compute_XX</c> (virtual: PTX, JIT-compiled by the driver for the actual GPU, which
/// must be XX or newer) or <c>sm_XX</c> (real: a CUBIN for exactly that GPU family, loaded without JIT),
/// optionally with an arch-specific suffix (<c>sm_90a</c>: features that exist only on 9.0, never forward
/// compatible).
/// </summary>
public readonly record struct GpuArchitecture(int Number, bool IsVirtual, string Suffix = "")
{
    public static GpuArchitecture Compute(int number) => new(number, true);

    public static GpuArchitecture Sm(int number) => new(number, false);

    /// <summary>What NVRTC emits for it.</summary>
    public KernelImageKind ImageKind => IsVirtual ? KernelImageKind.Ptx : KernelImageKind.Cubin;

    /// <summary>Parses "compute_80", "sm_86", "sm_90a", "compute_100f".</summary>
    public static GpuArchitecture Parse(string text)
    {
        if (TryParse(text, out var arch))
            return arch;
        throw new ArgumentException($"'{text}' is not an architecture; expected compute_XX or sm_XX (e.g. compute_80, sm_89, sm_90a)", nameof(text));
    }

    public static bool TryParse(string? text, out GpuArchitecture architecture)
    {
        architecture = default;
        if (string.IsNullOrWhiteSpace(text))
            return false;
        text = text.Trim().ToLowerInvariant();
        bool isVirtual;
        if (text.StartsWith("compute_", StringComparison.Ordinal)) { isVirtual = true; text = text[8..]; }
        else if (text.StartsWith("sm_", StringComparison.Ordinal)) { isVirtual = false; text = text[3..]; }
        else return false;
        var digits = 0;
        while (digits < text.Length && char.IsAsciiDigit(text[digits]))
            digits++;
        var suffix = text[digits..];
        if (digits is < 2 or > 4 || suffix is not ("" or "a" or "f"))
            return false;
        architecture = new GpuArchitecture(int.Parse(text[..digits], CultureInfo.InvariantCulture), isVirtual, suffix);
        return true;
    }

    public override string ToString() => $"{(IsVirtual ? "compute" : "sm")}_{Number}{Suffix}";
}

/// <summary>What a compiled module holds.</summary>
public enum KernelImageKind : byte
{
    /// <summary>PTX text, NUL-terminated.</summary>
    Ptx = 1,
    /// <summary>An ELF CUBIN.</summary>
    Cubin = 2,
}

/// <summary>A kernel target <see cref="KernelTargetPlan"/> chose, and why.</summary>
public sealed record ArchitectureChoice(GpuArchitecture Architecture, string Reason)
{
    public override string ToString() => $"{Architecture}: {Reason}";
}
