using System.Diagnostics;
using AccelAes.Kernels.Interop;

namespace AccelAes.Kernels.Compilation;

/// <summary>Per-file outcome of <see cref="KernelCompiler.CompileAll(GpuArchitecture, KernelCompileOptions?, bool)"/>.</summary>
public sealed record KernelFileReport(
    string SourceFile,
    string Family,
    GpuArchitecture Architecture,
    bool Succeeded,
    TimeSpan CompileTime,
    int PtxBytes,
    int? CubinBytes,
    IReadOnlyList<string> Kernels,
    IReadOnlyList<string> Warnings,
    IReadOnlyList<KernelResourceUsage> Resources,
    CacheOutcome Cache,
    string? Error,
    GpuArchitecture? ResourceArchitecture);

/// <summary>
/// Compiles the embedded kernel sources with NVRTC, with the embedded headers, for one architecture, and
/// keeps the results in a <see cref="KernelCache"/>. Everything it learns (log, warnings, resource usage,
/// timing, cache outcome) is returned, never printed.
/// </summary>
public sealed class KernelCompiler
{
    /// <summary>The oldest architecture the kernels are written for (Ampere: bf16 tensor cores, cp.async).</summary>
    public const int MinimumArchitecture = 80;

    private readonly IReadOnlyList<KernelSource> _headers;

    /// <summary>A compiler caching in <see cref="KernelCache.DefaultDirectory"/>.</summary>
    public KernelCompiler() : this(new KernelCache(KernelCache.DefaultDirectory())) { }

    /// <summary>A compiler caching in <paramref name="cache"/> (null: no cache).</summary>
    public KernelCompiler(KernelCache? cache, IReadOnlyList<KernelSource>? headers = null)
    {
        Cache = cache;
        _headers = headers ?? KernelSources.Headers;
    }

    public KernelCache? Cache { get; }

    /// <summary>The loaded NVRTC; throws <see cref="CudaUnavailableException"/> (listing what was tried) without one.</summary>
    public NvrtcInfo Nvrtc => Interop.Nvrtc.Info;

    /// <summary>
    /// True when the loaded NVRTC can target <paramref name="architecture"/>: its number is in
    /// nvrtcGetSupportedArchs, and arch-specific variants (sm_90a, from CUDA 12.0) and family variants
    /// (sm_100f, from CUDA 12.9) are only claimed for the NVRTC versions that introduced them.
    /// </summary>
    public bool Supports(GpuArchitecture architecture) => Supports(architecture, Nvrtc);

    internal static bool Supports(GpuArchitecture architecture, NvrtcInfo nvrtc)
    {
        if (nvrtc.SupportedArchitectures.Count > 0 && !nvrtc.Supports(architecture.Number))
            return false;
        var version = nvrtc.Major * 10 + nvrtc.Minor;
        return architecture.Suffix switch
        {
            "" => true,
            "a" => version >= 120,
            "f" => version >= 129,
            _ => false,
        };
    }

    /// <summary>The targets to try on a device of compute capability <paramref name="device"/> with a driver of <paramref name="driverVersion"/> (null: unknown).</summary>
    public KernelTargetPlan PlanTargets(ComputeCapability device, int? driverVersion) =>
        KernelTargetPlan.Create(device.Architecture, Nvrtc, driverVersion);

    /// <summary>
    /// The first choice of <see cref="KernelTargetPlan"/> when the driver's version is not considered: when NVRTC
    /// knows the device's own architecture, <c>sm_XX</c>, a CUBIN for exactly that GPU (no JIT at load, and ptxas
    /// reports registers and spills); otherwise the newest <c>compute_YY</c> ≤ the device, whose PTX the driver
    /// JIT-compiles at load time (e.g. an sm_120 GPU with NVRTC 11.8 gets compute_90). Arch-specific (<c>a</c>)
    /// targets are never chosen: they are for kernels written for them.
    /// </summary>
    public static ArchitectureChoice ChooseArchitecture(int deviceArchitecture, NvrtcInfo nvrtc) =>
        KernelTargetPlan.Create(deviceArchitecture, nvrtc, driverVersion: null).Targets[0];

    /// <summary>Compiles the embedded source <paramref name="fileName"/>.</summary>
    public CompiledModule Compile(string fileName, GpuArchitecture architecture, KernelCompileOptions? options = null) =>
        Compile(KernelSources.Get(fileName), architecture, options);

    /// <summary>
    /// Compiles <paramref name="source"/> (with the headers) for <paramref name="architecture"/>, or returns
    /// the cached result of an identical earlier compilation. Throws <see cref="KernelCompileException"/> with
    /// the NVRTC log when the source or an option is rejected.
    /// </summary>
    public CompiledModule Compile(KernelSource source, GpuArchitecture architecture, KernelCompileOptions? options = null)
    {
        options ??= KernelCompileOptions.Default;
        var nvrtc = Nvrtc;
        var requested = options.ToNvrtcOptions(architecture);
        var (nvrtcOptions, adjustments) = options.KeepKnownHazards
            ? (requested, (IReadOnlyList<string>)[])
            : CompilerHazards.Apply(requested, architecture, nvrtc.Major, nvrtc.Version);
        var key = KernelCache.Key(source, _headers, nvrtcOptions, architecture, nvrtc.Version);

        string? cacheProblem = null;
        var outcome = CacheOutcome.Disabled;
        string? path = null;
        if (Cache is not null)
        {
            path = Cache.PathFor(source.FileName, architecture, key);
            var cached = Cache.TryRead(path, key, out cacheProblem);
            if (cached is not null)
                return new CompiledModule(source.FileName, architecture, cached.ImageKind, cached.Image, cached.PtxBytes, cached.Log,
                    cached.CompileTime, CacheOutcome.Hit, key, nvrtc.Version, nvrtcOptions, null, adjustments);
            outcome = cacheProblem is null ? CacheOutcome.Miss : CacheOutcome.CorruptRecompiled;
        }

        // Only targets that run ptxas can crash the process; PTX targets stay in-process.
        var isolation = Isolation;
        var entry = isolation is not null && !architecture.IsVirtual && ChildProcessCompilation.CanCompile(source, _headers)
            ? isolation.Compile(source, architecture, nvrtcOptions, key, nvrtc.Version)
            : CompileInProcess(source, _headers, architecture, nvrtcOptions, nvrtc);

        string? writeProblem = null;
        if (Cache is not null && path is not null)
        {
            try
            {
                Cache.Write(path, key, entry);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Not an error: the cache only saves compile time, so a cache folder that is a file or read-only
                // (ACCELAES_CACHE_DIR pointing at the wrong place) costs a recompile next run, and the warning says where to look.
                writeProblem = $"could not write cache entry {path}: {e.Message} (kernels are not cached; point {KernelCache.CacheDirectoryVariable} at a writable folder)";
            }
        }
        var problem = writeProblem ?? (cacheProblem is null ? null : $"cache entry {path} was corrupt ({cacheProblem}); recompiled");
        return new CompiledModule(source.FileName, architecture, entry.ImageKind, entry.Image, entry.PtxBytes, entry.Log, entry.CompileTime,
            outcome, key, nvrtc.Version, nvrtcOptions, problem, adjustments);
    }

    /// <summary>
    /// How this process protects itself from compiler crashes: null (the default) compiles in-process; the
    /// <c>accelaes</c> program sets <see cref="ChildProcessCompilation.ForCurrentProcess"/> at start-up, so every
    /// compile that runs ptxas happens in a child process.
    /// </summary>
    public static ChildProcessCompilation? Isolation { get; set; }

    /// <summary>One NVRTC compilation in this process, with exactly <paramref name="nvrtcOptions"/>.</summary>
    internal static KernelCache.Entry CompileInProcess(KernelSource source, IReadOnlyList<KernelSource> headers, GpuArchitecture architecture,
        IReadOnlyList<string> nvrtcOptions, NvrtcInfo nvrtc)
    {
        // One NVRTC compile at a time per process: older NVRTC releases are not documented as thread-safe.
        lock (s_inProcessCompile)
            return CompileInProcessLocked(source, headers, architecture, nvrtcOptions, nvrtc);
    }

    private static readonly Lock s_inProcessCompile = new();

    private static KernelCache.Entry CompileInProcessLocked(KernelSource source, IReadOnlyList<KernelSource> headers, GpuArchitecture architecture,
        IReadOnlyList<string> nvrtcOptions, NvrtcInfo nvrtc)
    {
        var stopwatch = Stopwatch.StartNew();
        byte[] ptx;
        byte[]? cubin;
        string log;
        using (var program = NvrtcProgram.Create(source.Text, source.FileName,
                   headers.Select(h => KeyValuePair.Create(h.FileName, h.Text)).ToArray()))
        {
            var status = program.Compile(nvrtcOptions);
            log = program.Log();
            if (status != NvrtcResult.NVRTC_SUCCESS)
                throw new KernelCompileException(source.FileName, architecture.ToString(), log, nvrtcOptions, Interop.Nvrtc.ErrorName(status));
            ptx = program.Ptx();
            cubin = architecture.IsVirtual ? null : program.Cubin();
        }
        stopwatch.Stop();

        if (!architecture.IsVirtual && cubin is null)
            throw new KernelCompileException(source.FileName, architecture.ToString(),
                $"NVRTC {nvrtc.Version} produced no CUBIN for {architecture} (nvrtcGetCUBIN missing or empty); compile for compute_{architecture.Number} instead",
                nvrtcOptions, null);
        return cubin is null
            ? new KernelCache.Entry(KernelImageKind.Ptx, ptx.Length, stopwatch.Elapsed, log, ptx)
            : new KernelCache.Entry(KernelImageKind.Cubin, ptx.Length, stopwatch.Elapsed, log, cubin);
    }

    /// <summary>Compiles every embedded kernel file for <paramref name="architecture"/> ("compute_86", "sm_89").</summary>
    public IReadOnlyList<KernelFileReport> CompileAll(string architecture, KernelCompileOptions? options = null, bool useCache = false) =>
        CompileAll(GpuArchitecture.Parse(architecture), options, useCache);

    /// <summary>
    /// Compiles every embedded kernel file for <paramref name="architecture"/> and reports each: time, PTX and
    /// CUBIN size, warnings, per-kernel registers/spills/shared memory, or the error. For a PTX target
    /// (<c>compute_XX</c>) the resources come from also assembling for <c>sm_XX</c> when the NVRTC has it (what
    /// the driver's JIT would build for that GPU, give or take its ptxas version); <see cref="KernelFileReport.ResourceArchitecture"/>
    /// says which. By default the cache is bypassed so the times are compile times. Throws when NVRTC cannot
    /// target the architecture at all.
    /// </summary>
    public IReadOnlyList<KernelFileReport> CompileAll(GpuArchitecture architecture, KernelCompileOptions? options = null, bool useCache = false)
    {
        var nvrtc = Nvrtc;
        if (!Supports(architecture, nvrtc))
            throw new AccelAesException(
                $"NVRTC {nvrtc.Version} ({nvrtc.LibraryPath}) cannot compile for {architecture}; it supports {string.Join(", ", nvrtc.SupportedArchitectures)}");
        var compiler = useCache ? this : new KernelCompiler(null, _headers);
        GpuArchitecture? assembled = architecture.IsVirtual && Supports(GpuArchitecture.Sm(architecture.Number), nvrtc)
            ? GpuArchitecture.Sm(architecture.Number)
            : architecture.IsVirtual ? null : architecture;
        var files = KernelSources.Files;
        var reports = new KernelFileReport[files.Count];
        // Isolated compiles are separate processes: run them side by side. In-process NVRTC calls are serialised (CompileInProcess).
        Parallel.For(0, files.Count, new ParallelOptions { MaxDegreeOfParallelism = Isolation is null ? 1 : Environment.ProcessorCount }, index =>
        {
            var source = files[index];
            var kernels = KernelCatalog.EntriesOf(source).Select(k => k.Name).ToArray();
            try
            {
                var module = compiler.Compile(source, architecture, options);
                var notes = module.Warnings.Concat(module.OptionNotes).ToList();
                var resources = module.Resources;
                if (assembled is { } sm && sm != architecture)
                {
                    try
                    {
                        var cubin = compiler.Compile(source, sm, options);
                        resources = cubin.Resources;
                        notes.AddRange(cubin.OptionNotes);
                    }
                    catch (KernelCompileException e)
                    {
                        // The PTX is what runs; failing to assemble it here is a finding, not a failed compile.
                        notes.Add($"assembling for {sm} to read registers failed: {e.Message.Split('\n')[0]}");
                    }
                }
                reports[index] = new KernelFileReport(source.FileName, source.Family, architecture, true, module.CompileTime, module.PtxBytes,
                    module.ImageKind == KernelImageKind.Cubin ? module.Image.Length : null, kernels, notes, resources,
                    module.Cache, null, resources.Count > 0 ? assembled : null);
            }
            catch (KernelCompileException e)
            {
                reports[index] = new KernelFileReport(source.FileName, source.Family, architecture, false, TimeSpan.Zero, 0, null, kernels,
                    CompilerLog.Warnings(e.Log), [], CacheOutcome.Disabled, e.Message, null);
            }
        });
        return reports;
    }
}
