using System.Runtime.InteropServices;
using System.Text;

namespace AccelAes.Kernels.Interop;

/// <summary>
/// The application side of the NVTX v3 injection protocol. NVTX v3 is header-only: there is no libnvToolsExt to
/// load (CUDA 12 deprecates it, CUDA 13 does not ship it); instead every application carries the loader itself.
/// A profiler (Nsight Systems / Compute) sets <c>NVTX_INJECTION64_PATH</c> to its injection library; the
/// application loads it, calls its exported <c>InitializeInjectionNvtx2(getExportTable)</c>, and the tool asks
/// <c>getExportTable</c> for the callbacks table, whose <c>GetModuleFunctionTable(module, &amp;table, &amp;size)</c>
/// hands it, per module (CORE, CUDA, OPENCL, CUDART, CORE2, SYNC), an array of pointers to the application's
/// function-pointer slots, indexed by callback id (index 0 and the extra trailing entry are null). The tool
/// writes its functions into the slots it implements; each NVTX call then reads its slot and calls through it,
/// and an empty slot is a no-op. Nothing loads, or anything fails: every slot stays empty.
/// </summary>
/// <remarks>
/// The slots and export tables are one block of native memory allocated on first use and never freed: the tool
/// keeps the table pointers it was given and may write slots at any time (calls read the slot every time, so a
/// late write is seen). A loaded tool is never unloaded. There is one set of tables per process, as there is one
/// NVTX instance per module in C; <see cref="Nvtx"/> attaches at most one tool to them.
/// </remarks>
internal static unsafe class NvtxInjection
{
    /// <summary>The variable a profiler sets to its injection library (the 32-bit name in a 32-bit process).</summary>
    public static string PathVariable => IntPtr.Size == 4 ? "NVTX_INJECTION32_PATH" : "NVTX_INJECTION64_PATH";

    /// <summary>The entry point an injection library exports.</summary>
    public const string EntryPoint = "InitializeInjectionNvtx2";

    // NvtxExportTableID.
    internal const uint ExportTableCallbacks = 1;
    internal const uint ExportTableVersionInfo = 3;

    // The NVTX API version reported in the version-info table.
    internal const uint NvtxVersion = 3;

    // NvtxCallbackModule values 1..6 and each module's callback-id count (NVTX_CBID_<MODULE>_SIZE, id 0 invalid).
    // A tool such as Nsight asks for every module and writes every slot it knows, so each needs real slots.
    internal const int ModuleCore = 1;
    private static readonly int[] s_moduleSizes = [0, 16, 9, 15, 7, 16, 7]; // -, CORE, CUDA, OPENCL, CUDART, CORE2, SYNC

    // NvtxCallbackIdCore.
    internal const int CoreMarkA = 2;
    internal const int CoreRangePushA = 9;
    internal const int CoreRangePop = 11;

    [StructLayout(LayoutKind.Sequential)]
    private struct CallbacksTable
    {
        public nuint StructSize;
        public delegate* unmanaged<int, nint***, uint*, int> GetModuleFunctionTable;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct VersionInfoTable
    {
        public nuint StructSize;
        public uint Version;
        public uint Reserved0;
        public delegate* unmanaged<uint, void> SetInjectionNvtxVersion;
    }

    // Process-lifetime native memory (static readonly: allocated once by the type initializer, which the runtime
    // runs exactly once even under races). Slots[m] is module m's function-pointer slots; Tables[m] the array of
    // pointers to them handed to the tool.
    private static readonly CallbacksTable* s_callbacks;
    private static readonly VersionInfoTable* s_versionInfo;
    private static readonly nint*[] s_slots = new nint*[s_moduleSizes.Length];
    private static readonly nint**[] s_tables = new nint**[s_moduleSizes.Length];
    private static readonly object s_attachLock = new();
    private static uint s_toolVersion;

    static NvtxInjection()
    {
        s_callbacks = (CallbacksTable*)NativeMemory.AllocZeroed((nuint)sizeof(CallbacksTable));
        s_callbacks->StructSize = (nuint)sizeof(CallbacksTable);
        s_callbacks->GetModuleFunctionTable = &GetModuleFunctionTable;
        s_versionInfo = (VersionInfoTable*)NativeMemory.AllocZeroed((nuint)sizeof(VersionInfoTable));
        s_versionInfo->StructSize = (nuint)sizeof(VersionInfoTable);
        s_versionInfo->Version = NvtxVersion;
        s_versionInfo->SetInjectionNvtxVersion = &SetInjectionNvtxVersion;
        for (var module = 1; module < s_moduleSizes.Length; module++)
        {
            var size = s_moduleSizes[module];
            var slots = (nint*)NativeMemory.AllocZeroed((nuint)size, (nuint)sizeof(nint));
            var table = (nint**)NativeMemory.AllocZeroed((nuint)(size + 1), (nuint)sizeof(nint*)); // + trailing null
            for (var id = 1; id < size; id++)
                table[id] = slots + id;
            s_slots[module] = slots;
            s_tables[module] = table;
        }
    }

    /// <summary>The slot a tool fills for <paramref name="callbackId"/> of <paramref name="module"/>.</summary>
    internal static nint* Slot(int module, int callbackId) => s_slots[module] + callbackId;

    /// <summary>The version the attached tool reported through SetInjectionNvtxVersion (0: none).</summary>
    internal static uint ToolVersion => Volatile.Read(ref s_toolVersion);

    /// <summary>The address of the application's <c>nvtxGetExportTable</c>, as passed to the tool.</summary>
    internal static nint GetExportTableAddress => (nint)(delegate* unmanaged<uint, void*>)&GetExportTable;

    /// <summary>
    /// Loads the injection library at <paramref name="path"/> and runs the protocol. On success the CORE slots hold
    /// what the tool wrote; on any failure every slot is cleared (all calls no-ops) and the reason says why. Called
    /// once per process by <see cref="Nvtx"/>; tests call it directly with a fake tool (a second call lets a second
    /// tool write the same slots, as only one is ever meant to attach).
    /// </summary>
    internal static NvtxInjectionResult TryInitialize(string path)
    {
        lock (s_attachLock)
        {
            nint handle;
            try
            {
                handle = NativeLibrary.Load(path);
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException or ArgumentException)
            {
                return Fail(path, "could not be loaded: " + NativeLibraries.ShortLoadError(path, e.Message));
            }
            if (!NativeLibrary.TryGetExport(handle, EntryPoint, out var entry))
            {
                NativeLibrary.Free(handle);
                return Fail(path, $"does not export {EntryPoint}");
            }
            ClearSlots();
            var status = ((delegate* unmanaged<delegate* unmanaged<uint, void*>, int>)entry)(&GetExportTable);
            if (status == 0)
            {
                // As in the C loader: a failed tool is unloaded and whatever it wrote is dropped.
                ClearSlots();
                NativeLibrary.Free(handle);
                return Fail(path, $"{EntryPoint} returned 0 (the tool declined to attach)");
            }
            return new NvtxInjectionResult(true, path, null, NvtxBinding.FromInjection());
        }
    }

    private static NvtxInjectionResult Fail(string path, string reason) =>
        new(false, path, $"NVTX injection library {path} {reason}; NVTX calls are no-ops", NvtxBinding.None);

    private static void ClearSlots()
    {
        for (var module = 1; module < s_moduleSizes.Length; module++)
            new Span<nint>(s_slots[module], s_moduleSizes[module]).Clear();
    }

    // nvtxGetExportTable(uint32_t exportTableId) -> const void*: the one function the tool is given.
    [UnmanagedCallersOnly]
    private static void* GetExportTable(uint exportTableId) => exportTableId switch
    {
        ExportTableCallbacks => s_callbacks,
        ExportTableVersionInfo => s_versionInfo,
        _ => null,
    };

    // int GetModuleFunctionTable(NvtxCallbackModule module, NvtxFunctionTable* out_table, unsigned* out_size):
    // out_size is the number of callback ids (NVTX_CBID_<MODULE>_SIZE, id 0 included); 0 for an unknown module.
    [UnmanagedCallersOnly]
    private static int GetModuleFunctionTable(int module, nint*** outTable, uint* outSize)
    {
        if (module <= 0 || module >= s_moduleSizes.Length)
            return 0;
        if (outSize != null)
            *outSize = (uint)s_moduleSizes[module];
        if (outTable != null)
            *outTable = s_tables[module];
        return 1;
    }

    // Reserved by NVTX for applications to recognise problematic tools; recorded, otherwise ignored.
    [UnmanagedCallersOnly]
    private static void SetInjectionNvtxVersion(uint version) => Volatile.Write(ref s_toolVersion, version);
}

/// <summary>The outcome of attaching an NVTX injection library.</summary>
internal sealed record NvtxInjectionResult(bool Attached, string Path, string? Reason, NvtxBinding Binding);

/// <summary>
/// Where <see cref="Nvtx"/>'s three calls go: pointers to function-pointer slots, read on every call (an empty slot
/// is a no-op returning -1). v3 injection: the slots the tool fills; libnvToolsExt: slots holding its exports.
/// </summary>
internal readonly unsafe struct NvtxBinding
{
    private readonly nint* _push;
    private readonly nint* _pop;
    private readonly nint* _mark;

    private NvtxBinding(nint* push, nint* pop, nint* mark, string description)
    {
        _push = push;
        _pop = pop;
        _mark = mark;
        Description = description;
    }

    // Never freed: bindings are process-wide.
    private static readonly nint* s_empty = (nint*)NativeMemory.AllocZeroed(3, (nuint)sizeof(nint));

    public static NvtxBinding None { get; } = new(s_empty, s_empty + 1, s_empty + 2, "none");

    /// <summary>What the calls go to, for diagnostics.</summary>
    public string Description { get; }

    /// <summary>The same slots, described differently.</summary>
    public NvtxBinding WithDescription(string description) => new(_push, _pop, _mark, description);

    /// <summary>True when a push slot is filled (a tool attached, or libnvToolsExt loaded).</summary>
    public bool IsAvailable => _push != null && *_push != 0;

    internal static NvtxBinding FromInjection() => new(
        NvtxInjection.Slot(NvtxInjection.ModuleCore, NvtxInjection.CoreRangePushA),
        NvtxInjection.Slot(NvtxInjection.ModuleCore, NvtxInjection.CoreRangePop),
        NvtxInjection.Slot(NvtxInjection.ModuleCore, NvtxInjection.CoreMarkA),
        "NVTX v3 injection");

    internal static NvtxBinding FromExports(nint push, nint pop, nint mark, string description)
    {
        var slots = (nint*)NativeMemory.AllocZeroed(3, (nuint)sizeof(nint));
        slots[0] = push;
        slots[1] = pop;
        slots[2] = mark;
        return new(slots, slots + 1, slots + 2, description);
    }

    public int Push(string name)
    {
        var push = (delegate* unmanaged<byte*, int>)*_push;
        if (push == null)
            return -1;
        Span<byte> bytes = name.Length <= 80 ? stackalloc byte[256] : new byte[Encoding.UTF8.GetByteCount(name) + 1];
        bytes[Encoding.UTF8.GetBytes(name, bytes)] = 0;
        fixed (byte* p = bytes)
            return push(p);
    }

    public int Pop()
    {
        var pop = (delegate* unmanaged<int>)*_pop;
        return pop == null ? -1 : pop();
    }

    public void Mark(string name)
    {
        var mark = (delegate* unmanaged<byte*, void>)*_mark;
        if (mark == null)
            return;
        Span<byte> bytes = name.Length <= 80 ? stackalloc byte[256] : new byte[Encoding.UTF8.GetByteCount(name) + 1];
        bytes[Encoding.UTF8.GetBytes(name, bytes)] = 0;
        fixed (byte* p = bytes)
            mark(p);
    }
}
