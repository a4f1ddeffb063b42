using System.Runtime.InteropServices;

namespace AccelAes.Kernels.Interop;

/// <summary>
/// NVTX ranges and marks, shown on the Nsight Systems timeline. Bound once, on first use, in this order:
/// <list type="number">
/// <item>the profiler set <c>NVTX_INJECTION64_PATH</c>: the NVTX v3 injection protocol (<see cref="NvtxInjection"/>),
/// which is how NVTX works on CUDA 12/13 where libnvToolsExt is deprecated or absent;</item>
/// <item>else libnvToolsExt (NVTX v2), which does the same injection itself once a profiler attaches;</item>
/// <item>else nothing: every call is a no-op costing a load and a null check, so code can annotate freely.</item>
/// </list>
/// If the injection variable is set but the tool fails to attach, calls are no-ops too, as in NVTX's own loader.
/// </summary>
public static class Nvtx
{
    // static readonly: the type initializer runs exactly once per process, even when several threads make the first
    // call together, and the variable is read at that moment (a profiler sets it before the process starts).
    private static readonly NvtxBinding s_binding = Bind();

    /// <summary>
    /// True when an NVTX implementation is bound: an injected profiler tool, or libnvToolsExt (which records
    /// ranges only while a profiler is attached).
    /// </summary>
    public static bool IsAvailable => s_binding.IsAvailable;

    /// <summary>What the calls go to (for diagnostics): the injection library, libnvToolsExt, or why nothing.</summary>
    internal static string Description => s_binding.Description;

    /// <summary>Opens a nested range; returns the nesting level, or a negative value (no-op / no profiler).</summary>
    public static int Push(string name) => s_binding.Push(name);

    /// <summary>Closes the innermost range.</summary>
    public static int Pop() => s_binding.Pop();

    /// <summary>An instantaneous marker.</summary>
    public static void Mark(string name) => s_binding.Mark(name);

    /// <summary><c>using (Nvtx.Range("step 3")) { ... }</c></summary>
    public static RangeScope Range(string name)
    {
        Push(name);
        return default;
    }

    /// <summary>Pops the range it was created with when disposed.</summary>
    public readonly struct RangeScope : IDisposable
    {
        public void Dispose() => Pop();
    }

    internal static NvtxBinding Bind(string? injectionPath, Func<LibraryLoadResult> loadNvToolsExt)
    {
        if (!string.IsNullOrEmpty(injectionPath))
        {
            var result = NvtxInjection.TryInitialize(injectionPath);
            return result.Attached ? result.Binding.WithDescription("NVTX v3 injection: " + injectionPath) : result.Binding.WithDescription(result.Reason!);
        }
        var library = loadNvToolsExt();
        if (!library.IsLoaded
            || !NativeLibrary.TryGetExport(library.Handle, "nvtxRangePushA", out var push)
            || !NativeLibrary.TryGetExport(library.Handle, "nvtxRangePop", out var pop)
            || !NativeLibrary.TryGetExport(library.Handle, "nvtxMarkA", out var mark))
            return NvtxBinding.None.WithDescription($"no NVTX: {NvtxInjection.PathVariable} is not set and libnvToolsExt is not loaded");
        return NvtxBinding.FromExports(push, pop, mark, "libnvToolsExt: " + (library.LoadedPath ?? library.LoadedName));
    }

    private static NvtxBinding Bind() =>
        Bind(Environment.GetEnvironmentVariable(NvtxInjection.PathVariable), () => NativeLibraries.Load(CudaLibrary.Nvtx));
}
