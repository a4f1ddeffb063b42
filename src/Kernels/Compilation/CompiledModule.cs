using System.Globalization;
using System.Text.RegularExpressions;

namespace AccelAes.Kernels.Compilation;

/// <summary>Where a compiled module came from.</summary>
public enum CacheOutcome
{
    /// <summary>Compiled; no cache configured.</summary>
    Disabled,
    /// <summary>Compiled; no usable entry existed (stored afterwards).</summary>
    Miss,
    /// <summary>Read from the cache; NVRTC not called.</summary>
    Hit,
    /// <summary>An entry existed but failed verification (truncated, overwritten, other key): compiled again and replaced.</summary>
    CorruptRecompiled,
}

/// <summary>Registers, stack and spills of one kernel as ptxas reported them (real architectures only).</summary>
public sealed record KernelResourceUsage(string Kernel, int Registers, int StackFrameBytes, int SpillStoreBytes, int SpillLoadBytes, int SharedMemoryBytes)
{
    public bool Spills => SpillStoreBytes > 0 || SpillLoadBytes > 0;
}

/// <summary>A compiled kernel source file: the image to load plus everything worth reporting about the build.</summary>
public sealed record CompiledModule(
    string SourceFile,
    GpuArchitecture Architecture,
    KernelImageKind ImageKind,
    byte[] Image,
    int PtxBytes,
    string Log,
    TimeSpan CompileTime,
    CacheOutcome Cache,
    string CacheKey,
    string NvrtcVersion,
    IReadOnlyList<string> Options,
    string? CacheProblem,
    IReadOnlyList<string>? Adjustments = null)
{
    /// <summary>Options the compiler changed to stay clear of a known compiler crash (<see cref="CompilerHazards"/>), one note each.</summary>
    public IReadOnlyList<string> OptionNotes => Adjustments ?? [];

    /// <summary>Warning lines of the log (NVRTC front end and ptxas).</summary>
    public IReadOnlyList<string> Warnings => CompilerLog.Warnings(Log);

    /// <summary>Per-kernel resource usage from the ptxas report (empty for PTX targets).</summary>
    public IReadOnlyList<KernelResourceUsage> Resources => CompilerLog.Resources(Log);

    /// <summary>The kernels this module defines (from the catalog).</summary>
    public IReadOnlyList<string> Kernels => KernelCatalog.All.Where(k => k.SourceFile == SourceFile).Select(k => k.Name).ToArray();

    /// <summary>The PTX text (only for PTX images).</summary>
    public string? PtxText => ImageKind == KernelImageKind.Ptx ? System.Text.Encoding.UTF8.GetString(Image).TrimEnd('\0') : null;
}

/// <summary>Reads NVRTC/ptxas logs.</summary>
public static partial class CompilerLog
{
    /// <summary>Lines that are warnings: "file(12): warning #177-D: ..." from the front end, "ptxas warning : ..." from ptxas.</summary>
    public static IReadOnlyList<string> Warnings(string log) =>
        log.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => WarningPattern().IsMatch(l)).ToArray();

    /// <summary>Parses the -Xptxas=-v report into one record per kernel.</summary>
    public static IReadOnlyList<KernelResourceUsage> Resources(string log)
    {
        var result = new List<KernelResourceUsage>();
        string? kernel = null;
        int stack = 0, spillStores = 0, spillLoads = 0;
        foreach (var raw in log.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (EntryPattern().Match(line) is { Success: true } entry)
            {
                kernel = entry.Groups["name"].Value;
                stack = spillStores = spillLoads = 0;
            }
            else if (kernel is not null && FramePattern().Match(line) is { Success: true } frame)
            {
                stack = Int(frame, "stack");
                spillStores = Int(frame, "stores");
                spillLoads = Int(frame, "loads");
            }
            else if (kernel is not null && UsedPattern().Match(line) is { Success: true } used)
            {
                var smem = SmemPattern().Match(line);
                result.Add(new KernelResourceUsage(kernel, Int(used, "regs"), stack, spillStores, spillLoads, smem.Success ? Int(smem, "smem") : 0));
                kernel = null;
            }
        }
        return result;
    }

    private static int Int(Match m, string group) => int.Parse(m.Groups[group].Value, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"(:\s*warning\b|^ptxas\s+warning\b)", RegexOptions.IgnoreCase)]
    private static partial Regex WarningPattern();

    [GeneratedRegex(@"Compiling entry function '(?<name>[^']+)'")]
    private static partial Regex EntryPattern();

    [GeneratedRegex(@"(?<stack>\d+) bytes stack frame, (?<stores>\d+) bytes spill stores, (?<loads>\d+) bytes spill loads")]
    private static partial Regex FramePattern();

    [GeneratedRegex(@"Used (?<regs>\d+) registers")]
    private static partial Regex UsedPattern();

    [GeneratedRegex(@"(?<smem>\d+) bytes smem")]
    private static partial Regex SmemPattern();
}
