using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace AccelAes.Kernels.Interop;

/// <summary>The NVIDIA libraries the engine binds to.</summary>
public enum CudaLibrary
{
    /// <summary>The CUDA driver API (libcuda / nvcuda.dll), installed with the display driver.</summary>
    Driver,
    /// <summary>The runtime compiler (libnvrtc), part of the CUDA toolkit redistributables.</summary>
    Nvrtc,
    /// <summary>cuBLASLt, for GEMMs with fused epilogues.</summary>
    CublasLt,
    /// <summary>NVTX v2 (libnvToolsExt), for Nsight ranges; optional: a profiler that sets NVTX_INJECTION64_PATH is
    /// attached without it (NVTX v3, see <see cref="Nvtx"/>), and otherwise calls are no-ops.</summary>
    Nvtx,
}

/// <summary>One file name or path that was tried, and why it did not load (null when it did).</summary>
public sealed record LibraryAttempt(string Candidate, bool FromOverrideDirectory, string? Error)
{
    public override string ToString() => Error is null ? $"{Candidate}: loaded" : $"{Candidate}: {Error}";
}

/// <summary>The outcome of looking for one library: the handle and the file that loaded, or every attempt.</summary>
public sealed class LibraryLoadResult
{
    internal LibraryLoadResult(CudaLibrary library, nint handle, string? loadedName, string? loadedPath,
        IReadOnlyList<LibraryAttempt> attempts, string? overrideDirectory)
    {
        Library = library;
        Handle = handle;
        LoadedName = loadedName;
        LoadedPath = loadedPath;
        Attempts = attempts;
        OverrideDirectory = overrideDirectory;
    }

    public CudaLibrary Library { get; }

    /// <summary>The OS handle, or zero when nothing loaded.</summary>
    public nint Handle { get; }

    [MemberNotNullWhen(true, nameof(LoadedName))]
    public bool IsLoaded => Handle != 0;

    /// <summary>The candidate that loaded: a bare name from the table or a path in the override directory.</summary>
    public string? LoadedName { get; }

    /// <summary>The absolute path of the loaded file as the OS reports it (falls back to <see cref="LoadedName"/>).</summary>
    public string? LoadedPath { get; }

    public IReadOnlyList<LibraryAttempt> Attempts { get; }

    /// <summary>The value of <see cref="NativeLibraries.OverrideDirectoryVariable"/> used, if any.</summary>
    public string? OverrideDirectory { get; }

    /// <summary>One paragraph for people: what loaded, or what was tried and how to fix it.</summary>
    public string Describe()
    {
        if (IsLoaded)
            return $"{NativeLibraries.DisplayName(Library)}: loaded {LoadedPath ?? LoadedName}";
        var lines = new List<string>
        {
            $"{NativeLibraries.DisplayName(Library)} could not be loaded; tried, in order:",
        };
        lines.AddRange(Attempts.Select(a => "  " + a));
        if (Attempts.Count == 0)
            lines.Add($"  (no library names are known for {RuntimeInformation.OSDescription})");
        lines.Add(OverrideDirectory is null
            ? $"Set {NativeLibraries.OverrideDirectoryVariable} to the directory holding the library, or install it. {NativeLibraries.InstallHint(Library)}"
            : $"{NativeLibraries.OverrideDirectoryVariable}={OverrideDirectory} did not provide it either. {NativeLibraries.InstallHint(Library)}");
        return string.Join('\n', lines);
    }

    public override string ToString() => Describe();
}

/// <summary>
/// Finds the NVIDIA libraries by trying names in order (versioned sonames first, newest CUDA major first),
/// after the files of an override directory (<see cref="OverrideDirectoryVariable"/>). Installed as the
/// <see cref="NativeLibrary.SetDllImportResolver"/> of this assembly, so every <c>[LibraryImport]</c> here binds
/// to the file found; results are cached per process. Nothing is loaded until first asked for.
/// </summary>
public static partial class NativeLibraries
{
    /// <summary>Environment variable naming a directory whose CUDA libraries are tried before the system's.</summary>
    public const string OverrideDirectoryVariable = "ACCELAES_CUDA_LIB_DIR";

    // The library names used in [LibraryImport]; the resolver maps them to files.
    internal const string DriverImport = "cuda";
    internal const string NvrtcImport = "nvrtc";
    internal const string CublasLtImport = "cublasLt";
    internal const string NvtxImport = "nvToolsExt";

    private static readonly Lazy<LibraryLoadResult>[] s_cache =
        Enum.GetValues<CudaLibrary>().Select(lib => new Lazy<LibraryLoadResult>(() =>
            Probe(lib, OverrideDirectoryFromEnvironment(), lib is CudaLibrary.Nvrtc or CudaLibrary.CublasLt ? InstalledDriverVersion() : null))).ToArray();

    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255:The 'ModuleInitializer' attribute should not be used in libraries",
        Justification = "The resolver must be in place before the first P/Invoke of this assembly, whoever makes it.")]
    internal static void InstallResolver() =>
        NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);

    /// <summary>Candidate file names for <paramref name="library"/> on the current OS, in the order tried.</summary>
    public static IReadOnlyList<string> CandidateNames(CudaLibrary library) =>
        CandidateNames(library, OperatingSystem.IsWindows() ? OSPlatform.Windows : OperatingSystem.IsLinux() ? OSPlatform.Linux : OSPlatform.OSX);

    /// <summary>Candidate file names for <paramref name="library"/> on <paramref name="os"/>, in the order tried.</summary>
    public static IReadOnlyList<string> CandidateNames(CudaLibrary library, OSPlatform os)
    {
        if (os == OSPlatform.Linux)
        {
            return library switch
            {
                CudaLibrary.Driver => ["libcuda.so.1", "libcuda.so"],
                CudaLibrary.Nvrtc => ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"],
                CudaLibrary.CublasLt => ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "libcublasLt.so"],
                CudaLibrary.Nvtx => ["libnvToolsExt.so.1", "libnvToolsExt.so"],
                _ => [],
            };
        }
        if (os == OSPlatform.Windows)
        {
            return library switch
            {
                CudaLibrary.Driver => ["nvcuda.dll"],
                CudaLibrary.Nvrtc => ["nvrtc64_130_0.dll", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll"],
                CudaLibrary.CublasLt => ["cublasLt64_13.dll", "cublasLt64_12.dll", "cublasLt64_11.dll"],
                CudaLibrary.Nvtx => ["nvToolsExt64_1.dll"],
                _ => [],
            };
        }
        return []; // CUDA has no macOS driver.
    }

    /// <summary>The process-wide result for <paramref name="library"/> (probed once, on first use).</summary>
    public static LibraryLoadResult Load(CudaLibrary library) => s_cache[(int)library].Value;

    /// <summary>True when <paramref name="library"/> loaded.</summary>
    public static bool IsAvailable(CudaLibrary library) => Load(library).IsLoaded;

    /// <summary>The handle of <paramref name="library"/>; throws <see cref="CudaUnavailableException"/> listing what was tried.</summary>
    public static nint Require(CudaLibrary library)
    {
        var result = Load(library);
        return result.IsLoaded ? result.Handle : throw new CudaUnavailableException(result);
    }

    /// <summary>
    /// Looks for <paramref name="library"/> without touching the process-wide cache: every candidate name in
    /// <paramref name="overrideDirectory"/> (when given), then every candidate name through the OS search path.
    /// With <paramref name="driverVersion"/> known, versions of a newer CUDA major than the driver are tried last
    /// (<see cref="OrderForDriver"/>).
    /// </summary>
    public static LibraryLoadResult Probe(CudaLibrary library, string? overrideDirectory, int? driverVersion = null)
    {
        var names = OrderForDriver(CandidateNames(library), driverVersion);
        var attempts = new List<LibraryAttempt>();
        if (!string.IsNullOrWhiteSpace(overrideDirectory))
        {
            foreach (var name in names)
            {
                var path = Path.Combine(overrideDirectory, name);
                if (!File.Exists(path))
                {
                    attempts.Add(new LibraryAttempt(path, true, "no such file"));
                    continue;
                }
                if (TryLoad(path, out var handle, out var error))
                {
                    attempts.Add(new LibraryAttempt(path, true, null));
                    return new LibraryLoadResult(library, handle, path, Path.GetFullPath(path), attempts, overrideDirectory);
                }
                attempts.Add(new LibraryAttempt(path, true, error));
            }
        }
        foreach (var name in names)
        {
            if (TryLoad(name, out var handle, out var error))
            {
                attempts.Add(new LibraryAttempt(name, false, null));
                return new LibraryLoadResult(library, handle, name, LoadedFilePath(library, handle) ?? name, attempts,
                    string.IsNullOrWhiteSpace(overrideDirectory) ? null : overrideDirectory);
            }
            attempts.Add(new LibraryAttempt(name, false, error));
        }
        return new LibraryLoadResult(library, 0, null, null, attempts,
            string.IsNullOrWhiteSpace(overrideDirectory) ? null : overrideDirectory);
    }

    /// <summary>
    /// <paramref name="names"/> with the libraries of a CUDA major newer than the driver's moved behind the others
    /// (order otherwise kept): a CUDA 13 NVRTC emits PTX and CUBINs a 12.x driver refuses, and cuBLASLt 13 fails to
    /// initialise on it, while the 12.x libraries beside them work. Unversioned names keep their place.
    /// </summary>
    public static IReadOnlyList<string> OrderForDriver(IReadOnlyList<string> names, int? driverVersion)
    {
        if (driverVersion is not { } version || version <= 0)
            return names;
        int driverMajor = version / 1000;
        return names.OrderBy(n => CudaMajorOf(n) is { } major && major > driverMajor ? 1 : 0).ToArray();
    }

    /// <summary>The CUDA major version a library file name is built for: libnvrtc.so.13 → 13, libnvrtc.so.11.2 → 11, nvrtc64_120_0.dll → 12, cublasLt64_12.dll → 12; null when the name has none.</summary>
    internal static int? CudaMajorOf(string name)
    {
        var file = Path.GetFileName(name);
        var so = file.IndexOf(".so.", StringComparison.Ordinal);
        if (so >= 0)
        {
            var digits = new string(file[(so + 4)..].TakeWhile(char.IsAsciiDigit).ToArray());
            return digits.Length > 0 ? int.Parse(digits, System.Globalization.CultureInfo.InvariantCulture) : null;
        }
        var windows = System.Text.RegularExpressions.Regex.Match(file, @"64_(\d+)(?:_\d+)?\.dll$");
        if (!windows.Success)
            return null;
        var number = windows.Groups[1].Value;
        // nvrtc64_120_0.dll carries major and minor (120 = 12.0); cublasLt64_12.dll the major alone.
        return int.Parse(number.Length >= 3 ? number[..^1] : number, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>cuDriverGetVersion of the installed driver, or null when there is none (read without cuInit, never throws).</summary>
    private static unsafe int? InstalledDriverVersion()
    {
        var driver = Load(CudaLibrary.Driver);
        if (!driver.IsLoaded || !NativeLibrary.TryGetExport(driver.Handle, "cuDriverGetVersion", out var function))
            return null;
        int version = 0;
        return ((delegate* unmanaged<int*, int>)function)(&version) == 0 && version > 0 ? version : null;
    }

    /// <summary>Human name of a library, for messages.</summary>
    public static string DisplayName(CudaLibrary library) => library switch
    {
        CudaLibrary.Driver => "CUDA driver (libcuda)",
        CudaLibrary.Nvrtc => "NVRTC (CUDA runtime compiler)",
        CudaLibrary.CublasLt => "cuBLASLt",
        CudaLibrary.Nvtx => "NVTX (nvToolsExt)",
        _ => library.ToString(),
    };

    internal static string InstallHint(CudaLibrary library) => library switch
    {
        CudaLibrary.Driver => "libcuda comes with the NVIDIA display driver; a machine without an NVIDIA GPU has none.",
        CudaLibrary.Nvrtc => "On Debian 12: enable the non-free component and `apt-get install libnvrtc11.2` (see .ci/install-nvrtc.sh); elsewhere install the CUDA toolkit's NVRTC.",
        CudaLibrary.CublasLt => "Install the CUDA toolkit's cuBLAS (libcublasLt) matching your driver.",
        CudaLibrary.Nvtx => "Optional (deprecated in CUDA 12, absent in CUDA 13); Nsight attaches through NVTX_INJECTION64_PATH without it.",
        _ => "",
    };

    private static string? OverrideDirectoryFromEnvironment()
    {
        var value = Environment.GetEnvironmentVariable(OverrideDirectoryVariable);
        return string.IsNullOrWhiteSpace(value) ? null : value;
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        CudaLibrary? library = libraryName switch
        {
            DriverImport => CudaLibrary.Driver,
            NvrtcImport => CudaLibrary.Nvrtc,
            CublasLtImport => CudaLibrary.CublasLt,
            NvtxImport => CudaLibrary.Nvtx,
            _ => null,
        };
        if (library is not { } lib)
            return 0; // not ours (libc, kernel32): the runtime's default probing applies
        // A failure is thrown here rather than returned as zero: zero would send the runtime probing for
        // "cuda.so"/"libcuda" on its own, and the caller would get a DllNotFoundException naming neither the
        // files tried nor the override variable. The exception reaches the caller of the P/Invoke.
        var result = Load(lib);
        return result.IsLoaded ? result.Handle : throw new CudaUnavailableException(result);
    }

    private static bool TryLoad(string nameOrPath, out nint handle, out string? error)
    {
        try
        {
            handle = NativeLibrary.Load(nameOrPath);
            error = null;
            return true;
        }
        catch (DllNotFoundException e)
        {
            handle = 0;
            error = ShortLoadError(nameOrPath, e.Message);
            return false;
        }
        catch (BadImageFormatException e)
        {
            handle = 0;
            error = "not a loadable library for this process: " + e.Message;
            return false;
        }
    }

    // The runtime's message is long and generic; the loader's own reason (dlerror / Win32) is the useful part.
    internal static string ShortLoadError(string candidate, string message)
    {
        var marker = candidate + ": ";
        var at = message.LastIndexOf(marker, StringComparison.Ordinal);
        var reason = at >= 0 ? message[(at + marker.Length)..] : message;
        return reason.Trim().TrimEnd('.');
    }

    /// <summary>An export every version of the library has, used to ask the OS which file the handle is.</summary>
    private static string ProbeExport(CudaLibrary library) => library switch
    {
        CudaLibrary.Driver => "cuInit",
        CudaLibrary.Nvrtc => "nvrtcVersion",
        CudaLibrary.CublasLt => "cublasLtCreate",
        _ => "nvtxMarkA",
    };

    private static unsafe string? LoadedFilePath(CudaLibrary library, nint handle)
    {
        try
        {
            if (OperatingSystem.IsWindows())
            {
                var buffer = stackalloc char[1024];
                var length = GetModuleFileNameW(handle, buffer, 1024);
                return length > 0 ? new string(buffer, 0, (int)length) : null;
            }
            if (!NativeLibrary.TryGetExport(handle, ProbeExport(library), out var symbol))
                return null;
            // glibc ≥ 2.34 has dladdr in libc.so.6; older ones in libdl.so.2.
            if (!(NativeLibrary.TryLoad("libc.so.6", out var libc) && NativeLibrary.TryGetExport(libc, "dladdr", out var dladdr))
                && !(NativeLibrary.TryLoad("libdl.so.2", out var libdl) && NativeLibrary.TryGetExport(libdl, "dladdr", out dladdr)))
                return null;
            DlInfo info;
            var ok = ((delegate* unmanaged<nint, DlInfo*, int>)dladdr)(symbol, &info);
            return ok != 0 && info.FileName != 0 ? Marshal.PtrToStringUTF8(info.FileName) : null;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return null;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct DlInfo
    {
        public nint FileName;
        public nint FileBase;
        public nint SymbolName;
        public nint SymbolAddress;
    }

    [LibraryImport("kernel32")]
    private static unsafe partial uint GetModuleFileNameW(nint module, char* fileName, uint size);
}
