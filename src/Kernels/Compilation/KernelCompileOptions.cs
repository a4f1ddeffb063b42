using System.Globalization;

namespace AccelAes.Kernels.Compilation;

/// <summary>
/// The choices a kernel build can make. Defaults favour reference accuracy and profiling: no fast math
/// (which flushes denormals and uses approximate division, sqrt and transcendentals), line info on (Nsight
/// maps SASS back to .cu lines; it costs no speed), ptxas resource report on for real architectures.
/// </summary>
public sealed record KernelCompileOptions
{
    public static KernelCompileOptions Default { get; } = new();

    /// <summary>--use_fast_math. Off by default: the CUDA-vs-CPU tolerance rule assumes IEEE fp32 math.</summary>
    public bool FastMath { get; init; }

    /// <summary>-lineinfo.</summary>
    public bool LineInfo { get; init; } = true;

    /// <summary>-Xptxas=-v for sm_XX targets: registers, stack and spills per kernel (parsed from the log).</summary>
    public bool ResourceUsage { get; init; } = true;

    /// <summary>Extra -D definitions (e.g. compile-time specialisation: head dim, tile sizes), applied in name order.</summary>
    public IReadOnlyDictionary<string, string> Defines { get; init; } = new Dictionary<string, string>();

    /// <summary>Further raw NVRTC options, appended last.</summary>
    public IReadOnlyList<string> ExtraOptions { get; init; } = [];

    /// <summary>The exact NVRTC option list for <paramref name="architecture"/> (also part of the cache key).</summary>
    public IReadOnlyList<string> ToNvrtcOptions(GpuArchitecture architecture)
    {
        var options = new List<string>
        {
            $"--gpu-architecture={architecture}",
            "-std=c++17",
            "-default-device",
            "-DACCELAES_ARCH=" + architecture.Number.ToString(CultureInfo.InvariantCulture),
        };
        if (LineInfo)
            options.Add("-lineinfo");
        if (FastMath)
            options.Add("--use_fast_math");
        if (ResourceUsage && !architecture.IsVirtual)
            options.Add("-Xptxas=-v");
        foreach (var (name, value) in Defines.OrderBy(d => d.Key, StringComparer.Ordinal))
            options.Add($"-D{name}={value}");
        options.AddRange(ExtraOptions);
        return options;
    }
}
