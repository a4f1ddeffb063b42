using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends;

/// <summary>Creates a backend by the name users type (<c>--backend cpu|cuda</c>).</summary>
public static class BackendFactory
{
    public static IReadOnlyList<string> Names { get; } = ["cpu", "cuda"];

    /// <param name="name">cpu or cuda.</param>
    /// <param name="device">CUDA device ordinal (cuda only).</param>
    /// <param name="cudaOptions">Options of the CUDA backend (cuda only); null: the product defaults.</param>
    /// <exception cref="GpuUnavailableException">cuda was asked for and there is no usable GPU or no NVRTC.</exception>
    public static IBackend Create(string name, int device = 0, CudaBackendOptions? cudaOptions = null) => name switch
    {
        "cpu" => new CpuBackend(),
        "cuda" => CreateCuda((cudaOptions ?? DefaultCudaOptions()) with { Device = device }),
        _ => throw new AccelAesException($"Unknown backend '{name}'; choose one of: {string.Join(", ", Names)}."),
    };

    /// <summary>The environment variable that turns CUDA graphs off (<c>0</c> / <c>off</c>) for every host: CLI, C ABI.</summary>
    public const string GraphsVariable = "ACCELAES_CUDA_GRAPHS";

    /// <summary>
    /// The environment variable that sets <see cref="CudaBackendOptions.ReclaimThresholdBytes"/> (a size: <c>1MiB</c>,
    /// <c>4000000</c>): fresh device allocations between two garbage collections of undisposed tensors. Small values make
    /// the device's peak what a run needs (not what awaits the GC), at the price of more collections.
    /// </summary>
    public const string ReclaimVariable = "ACCELAES_CUDA_RECLAIM_BYTES";

    /// <summary>
    /// The product defaults, with <see cref="GraphsVariable"/> and <see cref="ReclaimVariable"/> applied: profiling kernel
    /// by kernel (Nsight Compute, or Nsight Systems without graph-node tracing) is easier when every op is launched on its
    /// own; measuring a run's real device peak (memory caps, the emulator's peak file) needs eager reclaims.
    /// </summary>
    public static CudaBackendOptions DefaultCudaOptions()
    {
        string? value = Environment.GetEnvironmentVariable(GraphsVariable)?.Trim();
        bool graphs = value?.ToLowerInvariant() switch
        {
            null or "" or "1" or "on" or "true" => true,
            "0" or "off" or "false" => false,
            _ => throw new AccelAesException($"{GraphsVariable}='{value}' is not understood; use 1/on or 0/off."),
        };
        string? reclaim = Environment.GetEnvironmentVariable(ReclaimVariable)?.Trim();
        ulong? reclaimBytes = string.IsNullOrEmpty(reclaim) ? null : (ulong)ByteSize.Parse(reclaim, ReclaimVariable);
        string? fp8 = Environment.GetEnvironmentVariable(Fp8GemmVariable)?.Trim();
        var fp8Gemm = string.IsNullOrEmpty(fp8) ? Fp8GemmMode.Auto : ParseFp8Gemm(fp8, Fp8GemmVariable);
        string? swiglu = Environment.GetEnvironmentVariable(SwiGluGemmVariable)?.Trim();
        var swigluGemm = string.IsNullOrEmpty(swiglu) ? SwiGluGemm.Auto : ParseSwiGluGemm(swiglu, SwiGluGemmVariable);
        return new CudaBackendOptions
        {
            UseGraphs = graphs, ReclaimThresholdBytes = reclaimBytes, Fp8Gemm = fp8Gemm, SwiGluGemm = swigluGemm,
            AttentionKvSplits = ParseKvSplits(Environment.GetEnvironmentVariable(KvSplitsVariable), KvSplitsVariable),
        };
    }

    /// <summary>
    /// The environment variable that sets <see cref="CudaBackendOptions.AttentionKvSplits"/>: <c>auto</c> (or unset: the
    /// attention plan decides), <c>off</c> (never split), or a split count 2–16 forced on every flash attention call.
    /// </summary>
    public const string KvSplitsVariable = "ACCELAES_ATTENTION_KV_SPLITS";

    /// <summary><c>auto</c> / empty → null, <c>off</c> → 1, or a whole number of splits (<paramref name="source"/> names the variable in errors).</summary>
    public static int? ParseKvSplits(string? value, string source)
    {
        string v = value?.Trim().ToLowerInvariant() ?? "";
        if (v is "" or "auto")
            return null;
        if (v is "off")
            return 1;
        if (!int.TryParse(v, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n))
            throw new AccelAesException($"{source}='{value}' is not understood; use auto, off or a split count.");
        return AccelAes.Loader.Validation.ValueChecks.Count(n, source, 1, AccelAes.Loader.Validation.InputLimits.MaxAttentionKvSplits);
    }

    /// <summary>
    /// The environment variable that sets <see cref="CudaBackendOptions.Fp8Gemm"/> (<c>auto</c> / <c>on</c> / <c>off</c>) for
    /// every host (the C ABI included); the CLI's <c>--fp8-gemm</c> overrides it.
    /// </summary>
    public const string Fp8GemmVariable = "ACCELAES_FP8_GEMM";

    /// <summary><c>auto</c>, <c>on</c> or <c>off</c> (<paramref name="source"/> names the option or variable in the error).</summary>
    public static Fp8GemmMode ParseFp8Gemm(string value, string source) => value.Trim().ToLowerInvariant() switch
    {
        "auto" => Fp8GemmMode.Auto,
        "on" => Fp8GemmMode.On,
        "off" => Fp8GemmMode.Off,
        _ => throw new AccelAesException($"{source}='{value}' is not understood; use auto, on or off."),
    };

    /// <summary>
    /// The environment variable that sets <see cref="CudaBackendOptions.SwiGluGemm"/> (<c>auto</c> / <c>fused</c> / <c>split</c>)
    /// for every host (the C ABI included); the CLI's <c>--swiglu-gemm</c> overrides it.
    /// </summary>
    public const string SwiGluGemmVariable = "ACCELAES_SWIGLU_GEMM";

    /// <summary><c>auto</c>, <c>fused</c> or <c>split</c> (<paramref name="source"/> names the option or variable in the error).</summary>
    public static SwiGluGemm ParseSwiGluGemm(string value, string source) => value.Trim().ToLowerInvariant() switch
    {
        "auto" => SwiGluGemm.Auto,
        "fused" => SwiGluGemm.Fused,
        "split" => SwiGluGemm.Split,
        _ => throw new AccelAesException($"{source}='{value}' is not understood; use auto, fused or split."),
    };

    /// <summary>
    /// The CUDA backend after the checks it depends on: the three GPU checks of <see cref="CudaDevice.Detect"/>
    /// (libcuda loads, cuInit succeeds, a device exists), the device ordinal, and NVRTC (every kernel is compiled at
    /// first use). The error names the check that failed, so "no GPU" is never a mystery.
    /// </summary>
    public static CudaBackend CreateCuda(CudaBackendOptions options)
    {
        var detection = CudaDevice.Detect();
        RequireUsable(detection, options.Device);
        return new CudaBackend(options);
    }

    /// <summary>Throws <see cref="GpuUnavailableException"/> unless the CUDA backend can run on device <paramref name="device"/>.</summary>
    public static void RequireUsable(GpuDetection detection, int device = 0)
    {
        if (!detection.IsAvailable)
            throw new GpuUnavailableException(detection, $"The CUDA backend cannot run here: {detection.Summary}");
        if (device < 0 || device >= detection.Devices.Count)
            throw new GpuUnavailableException(detection,
                $"The CUDA backend cannot run on device {device}: it does not exist; the driver sees {detection.Devices.Count} device(s): {string.Join("; ", detection.Devices)}");
        var nvrtc = NativeLibraries.Load(CudaLibrary.Nvrtc);
        if (!nvrtc.IsLoaded)
            throw new GpuUnavailableException(detection,
                $"The CUDA backend cannot run here: the GPU is there ({detection.Devices[device]}) but the kernels cannot be compiled: {nvrtc.Describe()}");
    }
}

/// <summary>
/// The CUDA backend cannot run here: no usable GPU (<see cref="Detection"/> says which of the three checks failed
/// and why) or no NVRTC. The CLI maps it to its own exit code (4), distinct from user errors.
/// </summary>
public sealed class GpuUnavailableException(GpuDetection detection, string message) : AccelAesException(message)
{
    public GpuDetection Detection { get; } = detection;
}
