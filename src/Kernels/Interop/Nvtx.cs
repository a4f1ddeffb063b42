using System.Runtime.InteropServices;
using System.Text;

namespace AccelAes.Kernels.Interop;

/// <summary>
/// NVTX ranges and marks, shown on the Nsight Systems timeline. Bound by function pointer on first use; when
/// libnvToolsExt is absent every call is a no-op (and costs a null check), so code can annotate freely.
/// </summary>
public static unsafe class Nvtx
{
    private static readonly Functions s_functions = Bind();

    /// <summary>True when libnvToolsExt loaded (ranges are recorded only while a profiler is attached).</summary>
    public static bool IsAvailable => s_functions.Push != null;

    /// <summary>Opens a nested range; returns the nesting level, or a negative value (no-op / no profiler).</summary>
    public static int Push(string name)
    {
        if (s_functions.Push == null)
            return -1;
        Span<byte> bytes = name.Length <= 80 ? stackalloc byte[256] : new byte[Encoding.UTF8.GetByteCount(name) + 1];
        bytes[Encoding.UTF8.GetBytes(name, bytes)] = 0;
        fixed (byte* p = bytes)
            return s_functions.Push(p);
    }

    /// <summary>Closes the innermost range.</summary>
    public static int Pop() => s_functions.Pop == null ? -1 : s_functions.Pop();

    /// <summary>An instantaneous marker.</summary>
    public static void Mark(string name)
    {
        if (s_functions.Mark == null)
            return;
        Span<byte> bytes = name.Length <= 80 ? stackalloc byte[256] : new byte[Encoding.UTF8.GetByteCount(name) + 1];
        bytes[Encoding.UTF8.GetBytes(name, bytes)] = 0;
        fixed (byte* p = bytes)
            s_functions.Mark(p);
    }

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

    private static Functions Bind()
    {
        var library = NativeLibraries.Load(CudaLibrary.Nvtx);
        if (!library.IsLoaded
            || !NativeLibrary.TryGetExport(library.Handle, "nvtxRangePushA", out var push)
            || !NativeLibrary.TryGetExport(library.Handle, "nvtxRangePop", out var pop)
            || !NativeLibrary.TryGetExport(library.Handle, "nvtxMarkA", out var mark))
            return default;
        return new Functions
        {
            Push = (delegate* unmanaged<byte*, int>)push,
            Pop = (delegate* unmanaged<int>)pop,
            Mark = (delegate* unmanaged<byte*, void>)mark,
        };
    }

    private struct Functions
    {
        public delegate* unmanaged<byte*, int> Push;
        public delegate* unmanaged<int> Pop;
        public delegate* unmanaged<byte*, void> Mark;
    }
}
