using System.Globalization;

namespace AccelAes.Kernels.Compilation;

/// <summary>
/// The choices a kernel build can make. Defaults favour reference accuracy and robustness: no fast math
/// (which flushes denormals and uses approximate division, sqrt and transcendentals), no line info unless asked
/// for (<see cref="LineInfoVariable"/>: it costs no speed, but NVRTC 11.8's ptxas crashes with it on sm_90, see
/// <see cref="CompilerHazards"/>), ptxas resource report on for real architectures.
/// </summary>
public sealed record KernelCompileOptions
{
    /// <summary>Set to 1 to compile with -lineinfo (Nsight Compute maps SASS back to .cu lines): a profiling build.</summary>
    public const string LineInfoVariable = "ACCELAES_KERNEL_LINEINFO";

    /// <summary>The options the engine compiles with: the defaults, plus -lineinfo when <see cref="LineInfoVariable"/> is 1.</summary>
    public static KernelCompileOptions Default { get; } = new() { LineInfo = Environment.GetEnvironmentVariable(LineInfoVariable) == "1" };

    /// <summary>--use_fast_math. Off by default: the CUDA-vs-CPU tolerance rule assumes IEEE fp32 math.</summary>
    public bool FastMath { get; init; }

    /// <summary>-lineinfo (source lines in Nsight Compute). Dropped where the NVRTC is known to crash with it.</summary>
    public bool LineInfo { get; init; }

    /// <summary>
    /// Compile even the option combinations <see cref="CompilerHazards"/> knows to crash the compiler. Only for tests
    /// that prove a crash is contained by <see cref="ChildProcessCompilation"/>.
    /// </summary>
    public bool KeepKnownHazards { get; init; }

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
