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
    string? Error);

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

    /// <summary>The architecture to compile for on a device of compute capability <paramref name="device"/>.</summary>
    public ArchitectureChoice ChooseArchitecture(ComputeCapability device) => ChooseArchitecture(device.Architecture, Nvrtc);

    /// <summary>
    /// Picks the newest architecture both the device and NVRTC support. When NVRTC knows the device's own
    /// architecture: <c>sm_XX</c>, a CUBIN for exactly that GPU (no JIT at load, and ptxas reports registers
    /// and spills). Otherwise the newest <c>compute_YY</c> ≤ the device, whose PTX the driver JIT-compiles
    /// for the device at load time (e.g. an sm_120 GPU with NVRTC 11.8 gets compute_90). Arch-specific
    /// (<c>a</c>) targets are never chosen here: they are for kernels written for them.
    /// </summary>
    public static ArchitectureChoice ChooseArchitecture(int deviceArchitecture, NvrtcInfo nvrtc)
    {
        if (deviceArchitecture < MinimumArchitecture)
            throw new AccelAesException(
                $"the GPU is sm_{deviceArchitecture}; AccelAes kernels need compute capability {MinimumArchitecture / 10}.{MinimumArchitecture % 10} (Ampere) or newer");
        if (nvrtc.Supports(deviceArchitecture))
            return new ArchitectureChoice(GpuArchitecture.Sm(deviceArchitecture),
                $"NVRTC {nvrtc.Version} supports the device's architecture: native CUBIN, no JIT");
        var best = nvrtc.SupportedArchitectures.Where(a => a <= deviceArchitecture && a >= MinimumArchitecture).DefaultIfEmpty(0).Max();
        if (best == 0)
            throw new AccelAesException(
                $"NVRTC {nvrtc.Version} ({nvrtc.LibraryPath}) supports none of the architectures {MinimumArchitecture}..{deviceArchitecture} " +
                $"(it lists {string.Join(", ", nvrtc.SupportedArchitectures)}); install a newer NVRTC");
        return new ArchitectureChoice(GpuArchitecture.Compute(best),
            $"NVRTC {nvrtc.Version} does not know sm_{deviceArchitecture}; newest it has is compute_{best}: PTX, JIT-compiled by the driver at load");
    }

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
        var nvrtcOptions = options.ToNvrtcOptions(architecture);
        var key = KernelCache.Key(source, _headers, nvrtcOptions, architecture, nvrtc.Version);

        string? cacheProblem = null;
        var outcome = CacheOutcome.Disabled;
        string? path = null;
        if (Cache is not null)
        {
            path = Cache.PathFor(source.FileName, architecture, key);
            var entry = Cache.TryRead(path, key, out cacheProblem);
            if (entry is not null)
                return new CompiledModule(source.FileName, architecture, entry.ImageKind, entry.Image, entry.PtxBytes, entry.Log,
                    entry.CompileTime, CacheOutcome.Hit, key, nvrtc.Version, nvrtcOptions, null);
            outcome = cacheProblem is null ? CacheOutcome.Miss : CacheOutcome.CorruptRecompiled;
        }

        var stopwatch = Stopwatch.StartNew();
        byte[] ptx;
        byte[]? cubin;
        string log;
        using (var program = NvrtcProgram.Create(source.Text, source.FileName,
                   _headers.Select(h => KeyValuePair.Create(h.FileName, h.Text)).ToArray()))
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
        var kind = cubin is null ? KernelImageKind.Ptx : KernelImageKind.Cubin;
        var image = cubin ?? ptx;

        string? writeProblem = null;
        if (Cache is not null && path is not null)
        {
            try
            {
                Cache.Write(path, key, new KernelCache.Entry(kind, ptx.Length, stopwatch.Elapsed, log, image));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                writeProblem = $"could not write cache entry {path}: {e.Message}";
            }
        }
        var problem = writeProblem ?? (cacheProblem is null ? null : $"cache entry {path} was corrupt ({cacheProblem}); recompiled");
        return new CompiledModule(source.FileName, architecture, kind, image, ptx.Length, log, stopwatch.Elapsed, outcome, key,
            nvrtc.Version, nvrtcOptions, problem);
    }

    /// <summary>Compiles every embedded kernel file for <paramref name="architecture"/> ("compute_86", "sm_89").</summary>
    public IReadOnlyList<KernelFileReport> CompileAll(string architecture, KernelCompileOptions? options = null, bool useCache = false) =>
        CompileAll(GpuArchitecture.Parse(architecture), options, useCache);

    /// <summary>
    /// Compiles every embedded kernel file for <paramref name="architecture"/> and reports each: time, PTX and
    /// CUBIN size, warnings, per-kernel registers/spills (CUBIN targets), or the error. By default the cache
    /// is bypassed so the times are compile times. Throws when NVRTC cannot target the architecture at all.
    /// </summary>
    public IReadOnlyList<KernelFileReport> CompileAll(GpuArchitecture architecture, KernelCompileOptions? options = null, bool useCache = false)
    {
        var nvrtc = Nvrtc;
        if (!Supports(architecture, nvrtc))
            throw new AccelAesException(
                $"NVRTC {nvrtc.Version} ({nvrtc.LibraryPath}) cannot compile for {architecture}; it supports {string.Join(", ", nvrtc.SupportedArchitectures)}");
        var compiler = useCache ? this : new KernelCompiler(null, _headers);
        var reports = new List<KernelFileReport>();
        foreach (var source in KernelSources.Files)
        {
            var kernels = KernelCatalog.EntriesOf(source).Select(k => k.Name).ToArray();
            try
            {
                var module = compiler.Compile(source, architecture, options);
                reports.Add(new KernelFileReport(source.FileName, source.Family, architecture, true, module.CompileTime, module.PtxBytes,
                    module.ImageKind == KernelImageKind.Cubin ? module.Image.Length : null, kernels, module.Warnings, module.Resources,
                    module.Cache, null));
            }
            catch (KernelCompileException e)
            {
                reports.Add(new KernelFileReport(source.FileName, source.Family, architecture, false, TimeSpan.Zero, 0, null, kernels,
                    CompilerLog.Warnings(e.Log), [], CacheOutcome.Disabled, e.Message));
            }
        }
        return reports;
    }
}
