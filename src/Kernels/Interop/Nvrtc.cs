using System.Runtime.InteropServices;
using System.Text;

namespace AccelAes.Kernels.Interop;

/// <summary>nvrtcResult (nvrtc.h). Later NVRTC versions add codes at the end; those show by number.</summary>
public enum NvrtcResult
{
    NVRTC_SUCCESS = 0,
    NVRTC_ERROR_OUT_OF_MEMORY = 1,
    NVRTC_ERROR_PROGRAM_CREATION_FAILURE = 2,
    NVRTC_ERROR_INVALID_INPUT = 3,
    NVRTC_ERROR_INVALID_PROGRAM = 4,
    NVRTC_ERROR_INVALID_OPTION = 5,
    NVRTC_ERROR_COMPILATION = 6,
    NVRTC_ERROR_BUILTIN_OPERATION_FAILURE = 7,
    NVRTC_ERROR_NO_NAME_EXPRESSIONS_AFTER_COMPILATION = 8,
    NVRTC_ERROR_NO_LOWERED_NAMES_BEFORE_COMPILATION = 9,
    NVRTC_ERROR_NAME_EXPRESSION_NOT_VALID = 10,
    NVRTC_ERROR_INTERNAL_ERROR = 11,
    NVRTC_ERROR_TIME_FILE_WRITE_FAILED = 12,
}

/// <summary>Raw NVRTC entry points present in every NVRTC since 11.0. Optional ones are looked up by name.</summary>
internal static unsafe partial class NvrtcNative
{
    private const string Lib = NativeLibraries.NvrtcImport;

    [LibraryImport(Lib)] internal static partial byte* nvrtcGetErrorString(NvrtcResult result);
    [LibraryImport(Lib)] internal static partial NvrtcResult nvrtcVersion(int* major, int* minor);
    [LibraryImport(Lib)]
    internal static partial NvrtcResult nvrtcCreateProgram(nint* program, byte* source, byte* name,
        int headerCount, byte** headers, byte** includeNames);
    [LibraryImport(Lib)] internal static partial NvrtcResult nvrtcDestroyProgram(nint* program);
    [LibraryImport(Lib)] internal static partial NvrtcResult nvrtcCompileProgram(nint program, int optionCount, byte** options);
    [LibraryImport(Lib)] internal static partial NvrtcResult nvrtcGetProgramLogSize(nint program, nuint* size);
    [LibraryImport(Lib)] internal static partial NvrtcResult nvrtcGetProgramLog(nint program, byte* log);
    [LibraryImport(Lib)] internal static partial NvrtcResult nvrtcGetPTXSize(nint program, nuint* size);
    [LibraryImport(Lib)] internal static partial NvrtcResult nvrtcGetPTX(nint program, byte* ptx);
}

/// <summary>Facts about the loaded NVRTC: version, the file, and the architectures it can target.</summary>
public sealed record NvrtcInfo(int Major, int Minor, string LibraryPath, IReadOnlyList<int> SupportedArchitectures, bool CanEmitCubin)
{
    /// <summary>"11.8".</summary>
    public string Version => $"{Major}.{Minor}";

    /// <summary>True when NVRTC can target <c>compute_N</c> / <c>sm_N</c>.</summary>
    public bool Supports(int architecture) => SupportedArchitectures.Contains(architecture);
}

/// <summary>Checked NVRTC calls and the facts about the loaded library.</summary>
public static unsafe class Nvrtc
{
    private static readonly Lazy<NvrtcInfo> s_info = new(ReadInfo);

    /// <summary>Version, path and architectures of the NVRTC this process loaded; throws <see cref="CudaUnavailableException"/> without one.</summary>
    public static NvrtcInfo Info => s_info.Value;

    /// <summary>True when an NVRTC library loaded.</summary>
    public static bool IsAvailable => NativeLibraries.IsAvailable(CudaLibrary.Nvrtc);

    /// <summary>NVRTC's text for a status (nvrtcGetErrorString), or the header name without the library.</summary>
    public static string ErrorName(NvrtcResult result)
    {
        if (IsAvailable)
        {
            var text = NvrtcNative.nvrtcGetErrorString(result);
            var name = text == null ? null : Marshal.PtrToStringUTF8((nint)text);
            if (!string.IsNullOrEmpty(name) && !name.Contains("unknown", StringComparison.OrdinalIgnoreCase))
                return name;
        }
        return StatusNames.Nvrtc((int)result);
    }

    public static void Check(NvrtcResult result, string call, string? op = null)
    {
        if (result != NvrtcResult.NVRTC_SUCCESS)
            throw new CudaException(CudaApi.Nvrtc, call, (int)result, ErrorName(result), null, op);
    }

    private static NvrtcInfo ReadInfo()
    {
        var library = NativeLibraries.Load(CudaLibrary.Nvrtc);
        if (!library.IsLoaded)
            throw new CudaUnavailableException(library);
        int major, minor;
        Check(NvrtcNative.nvrtcVersion(&major, &minor), "nvrtcVersion");
        var archs = new List<int>();
        // nvrtcGetSupportedArchs exists from NVRTC 11.2; before that we do not guess.
        if (NativeLibrary.TryGetExport(library.Handle, "nvrtcGetNumSupportedArchs", out var numFn)
            && NativeLibrary.TryGetExport(library.Handle, "nvrtcGetSupportedArchs", out var listFn))
        {
            int count;
            Check(((delegate* unmanaged<int*, NvrtcResult>)numFn)(&count), "nvrtcGetNumSupportedArchs");
            var values = new int[count];
            fixed (int* p = values)
                Check(((delegate* unmanaged<int*, NvrtcResult>)listFn)(p), "nvrtcGetSupportedArchs");
            archs.AddRange(values);
            archs.Sort();
        }
        var cubin = NativeLibrary.TryGetExport(library.Handle, "nvrtcGetCUBINSize", out _)
                    && NativeLibrary.TryGetExport(library.Handle, "nvrtcGetCUBIN", out _);
        return new NvrtcInfo(major, minor, library.LoadedPath ?? library.LoadedName, archs, cubin);
    }
}

/// <summary>
/// One NVRTC program: source + in-memory headers → compile with options → log, PTX, CUBIN. Owns the native
/// program object; dispose it.
/// </summary>
public sealed unsafe class NvrtcProgram : IDisposable
{
    private nint _program;
    private readonly string _name;

    private NvrtcProgram(nint program, string name)
    {
        _program = program;
        _name = name;
    }

    /// <summary>Creates a program named <paramref name="name"/> (the name appears in diagnostics) with the given headers.</summary>
    public static NvrtcProgram Create(string source, string name, IReadOnlyList<KeyValuePair<string, string>> headers)
    {
        NativeLibraries.Require(CudaLibrary.Nvrtc);
        using var sourceUtf8 = new Utf8Strings([source]);
        using var nameUtf8 = new Utf8Strings([name]);
        using var headerTexts = new Utf8Strings(headers.Select(h => h.Value).ToArray());
        using var headerNames = new Utf8Strings(headers.Select(h => h.Key).ToArray());
        nint program;
        Nvrtc.Check(NvrtcNative.nvrtcCreateProgram(&program, sourceUtf8.Pointers[0], nameUtf8.Pointers[0],
            headers.Count, headerTexts.Pointers, headerNames.Pointers), "nvrtcCreateProgram", name);
        return new NvrtcProgram(program, name);
    }

    /// <summary>
    /// Compiles. Returns NVRTC_SUCCESS, NVRTC_ERROR_COMPILATION (read <see cref="Log"/>) or
    /// NVRTC_ERROR_INVALID_OPTION (e.g. an architecture this NVRTC does not know); throws on anything else.
    /// </summary>
    public NvrtcResult Compile(IReadOnlyList<string> options)
    {
        using var utf8 = new Utf8Strings(options.ToArray());
        var result = NvrtcNative.nvrtcCompileProgram(Handle, options.Count, utf8.Pointers);
        if (result is not (NvrtcResult.NVRTC_SUCCESS or NvrtcResult.NVRTC_ERROR_COMPILATION or NvrtcResult.NVRTC_ERROR_INVALID_OPTION))
            Nvrtc.Check(result, "nvrtcCompileProgram", _name);
        return result;
    }

    /// <summary>The compiler's log (warnings, errors; ptxas info when asked for with -Xptxas=-v).</summary>
    public string Log()
    {
        nuint size;
        Nvrtc.Check(NvrtcNative.nvrtcGetProgramLogSize(Handle, &size), "nvrtcGetProgramLogSize", _name);
        if (size <= 1)
            return "";
        var buffer = new byte[size];
        fixed (byte* p = buffer)
            Nvrtc.Check(NvrtcNative.nvrtcGetProgramLog(Handle, p), "nvrtcGetProgramLog", _name);
        return Encoding.UTF8.GetString(buffer, 0, (int)size - 1);
    }

    /// <summary>The PTX text including its terminating NUL (what cuModuleLoadData expects).</summary>
    public byte[] Ptx()
    {
        nuint size;
        Nvrtc.Check(NvrtcNative.nvrtcGetPTXSize(Handle, &size), "nvrtcGetPTXSize", _name);
        var buffer = new byte[size];
        fixed (byte* p = buffer)
            Nvrtc.Check(NvrtcNative.nvrtcGetPTX(Handle, p), "nvrtcGetPTX", _name);
        return buffer;
    }

    /// <summary>The CUBIN when the program was compiled for a real architecture (sm_XX), else null.</summary>
    public byte[]? Cubin()
    {
        var library = NativeLibraries.Load(CudaLibrary.Nvrtc);
        if (!NativeLibrary.TryGetExport(library.Handle, "nvrtcGetCUBINSize", out var sizeFn)
            || !NativeLibrary.TryGetExport(library.Handle, "nvrtcGetCUBIN", out var getFn))
            return null;
        nuint size;
        if (((delegate* unmanaged<nint, nuint*, NvrtcResult>)sizeFn)(Handle, &size) != NvrtcResult.NVRTC_SUCCESS || size == 0)
            return null; // compiled for a virtual architecture: there is no CUBIN
        var buffer = new byte[size];
        fixed (byte* p = buffer)
            Nvrtc.Check(((delegate* unmanaged<nint, byte*, NvrtcResult>)getFn)(Handle, p), "nvrtcGetCUBIN", _name);
        return buffer;
    }

    private nint Handle => _program != 0 ? _program : throw new ObjectDisposedException(nameof(NvrtcProgram));

    public void Dispose()
    {
        if (_program == 0)
            return;
        var program = _program;
        _program = 0;
        NvrtcNative.nvrtcDestroyProgram(&program);
    }
}

/// <summary>NUL-terminated UTF-8 copies of strings in native memory plus the array of pointers to them.</summary>
internal sealed unsafe class Utf8Strings : IDisposable
{
    public Utf8Strings(string[] values)
    {
        Count = values.Length;
        Pointers = (byte**)NativeMemory.AllocZeroed((nuint)Math.Max(1, values.Length), (nuint)sizeof(byte*));
        for (var i = 0; i < values.Length; i++)
        {
            var bytes = Encoding.UTF8.GetByteCount(values[i]);
            var p = (byte*)NativeMemory.Alloc((nuint)bytes + 1);
            Encoding.UTF8.GetBytes(values[i], new Span<byte>(p, bytes));
            p[bytes] = 0;
            Pointers[i] = p;
        }
    }

    public int Count { get; }

    public byte** Pointers { get; private set; }

    public void Dispose()
    {
        if (Pointers == null)
            return;
        for (var i = 0; i < Count; i++)
            NativeMemory.Free(Pointers[i]);
        NativeMemory.Free(Pointers);
        Pointers = null;
    }
}
