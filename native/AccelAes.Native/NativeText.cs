using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace AccelAes.Native;

/// <summary>UTF-8 in and out of the boundary.</summary>
internal static unsafe class NativeText
{
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads a NUL-terminated UTF-8 string; null for NULL. Invalid UTF-8 is an INVALID_ARGUMENT naming <paramref name="what"/>.</summary>
    public static string? Read(byte* text, string what)
    {
        if (text is null) return null;
        var span = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(text);
        try
        {
            return Strict.GetString(span);
        }
        catch (DecoderFallbackException)
        {
            throw new NativeError(Status.InvalidArgument, $"{what} is not valid UTF-8.");
        }
    }

    /// <summary>A NUL-terminated UTF-8 copy in native memory; free it with <see cref="Free"/>.</summary>
    public static byte* Allocate(string text)
    {
        int n = Encoding.UTF8.GetByteCount(text);
        var p = (byte*)NativeMemory.Alloc((nuint)n + 1);
        Encoding.UTF8.GetBytes(text, new Span<byte>(p, n));
        p[n] = 0;
        return p;
    }

    public static void Free(ref byte* text)
    {
        if (text is not null) NativeMemory.Free(text);
        text = null;
    }

    /// <summary>A string the library keeps for the life of the process (status names, knob names, the version).</summary>
    public static byte* Static(string text)
    {
        lock (StaticStrings)
        {
            if (!StaticStrings.TryGetValue(text, out nint p))
                StaticStrings[text] = p = (nint)Allocate(text);
            return (byte*)p;
        }
    }

    private static readonly Dictionary<string, nint> StaticStrings = new(StringComparer.Ordinal);

    /// <summary>"" in the image's read-only data: the answer of last resort when even a small allocation fails.</summary>
    public static byte* Empty => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference("\0"u8));
}

/// <summary>
/// accelaes_last_error: one message per thread, replaced (and the old one freed) by the next call on that thread. A
/// thread that exits keeps its last message allocated: a few hundred bytes at most, the price of a pointer that stays
/// valid without the caller freeing anything.
/// </summary>
internal static unsafe class LastError
{
    [ThreadStatic] private static byte* t_message;

    public static byte* Message => t_message is not null ? t_message : NativeText.Empty;

    public static void Clear() => NativeText.Free(ref t_message);

    public static int Set(Status status, string message)
    {
        NativeText.Free(ref t_message);
        t_message = NativeText.Allocate(message);
        return (int)status;
    }
}
