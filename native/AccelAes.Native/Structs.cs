using System.Runtime.InteropServices;

namespace AccelAes.Native;

// The option and result structs of accelaes.h, field for field (LayoutKind.Sequential follows the C layout rules).
// ABI version 1: the sizes below are the C sizes on 64-bit targets; the size field of each struct is checked by
// Versioned.Read / Versioned.CheckOut. Fields appended after the first release are listed with the struct's first size
// (a host built against the older header passes that size, and gets the fields it knows).

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct EngineOptions
{
    public uint Size;
    public int Device;
    public byte* Backend;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ModelInfo
{
    public uint Size;
    public int DefaultSteps;
    public float DefaultGuidance;
    public int DefaultWidth;
    public int DefaultHeight;
    public int SizeMultiple;
    public byte* PipelineClass;
    public byte* Folder;
    public double LoadSeconds;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct GenerateOptions
{
    public uint Size;
    public int Steps;
    public byte* Prompt;
    public byte* NegativePrompt;
    public ulong Seed;
    public float Guidance;
    public float TrueCfgScale;
    public int Width;
    public int Height;
    public int GuidanceMode;
    public int AccelOverrideCount;
    public byte* AccelPreset;
    public byte** AccelOverrides;
    public byte* AesMaskClip;
    public delegate* unmanaged[Cdecl]<int, int, int, void*, int> Progress;
    public void* UserData;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct GenerateResult
{
    public uint Size;
    public int Width;
    public int Height;
    public int Steps;
    public int StepsComputed;
    public int StepsSkipped;
    public int StepsSparse;
    public float Guidance;
    public double EncodeSeconds;
    public double DenoiseSeconds;
    public double DecodeSeconds;
    public double OtherSeconds;
    public double TotalSeconds;
    public int WarningCount;
    public int MaskFocusTokens;
    public int MaskTokens;
    public int Reserved0;
    public byte* Warnings;

    // ---- appended (0.2.0); a host built against 0.1.0's header passes FirstSize and gets the fields above ----
    public byte* Schedule;

    /// <summary>sizeof(accelaes_generate_result) as 0.1.0 declared it: everything before <see cref="Schedule"/>.</summary>
    public static uint FirstSize
    {
        get
        {
            GenerateResult r = default;
            return (uint)((byte*)&r.Schedule - (byte*)&r);
        }
    }
}

/// <summary>The size-field protocol of the option structs (accelaes.h, Conventions).</summary>
internal static unsafe class Versioned
{
    /// <summary>Larger than any struct this ABI will grow to: a size above it is garbage, not a newer header.</summary>
    private const uint MaxSize = 4096;

    /// <summary>
    /// Reads a caller's input struct: its size must be at least <paramref name="minimumSize"/> (the first ABI version
    /// of the struct); the fields this library knows are copied, and any further bytes (a newer header's fields) must
    /// be zero.
    /// </summary>
    public static T Read<T>(void* p, string name, uint minimumSize) where T : unmanaged
    {
        uint size = CheckSize(p, name, minimumSize);
        T value = default;
        uint known = (uint)sizeof(T);
        Buffer.MemoryCopy(p, &value, known, Math.Min(size, known));
        for (uint i = known; i < size; i++)
        {
            if (((byte*)p)[i] != 0)
                throw new NativeError(Status.Unsupported,
                    $"{name}.size is {size} but this library (ABI {Exports.AbiVersion}) knows only the first {known} bytes, and byte {i} " +
                    "beyond them is set: the host was built against a newer accelaes.h than this library.");
        }
        return value;
    }

    /// <summary>Checks a caller's output struct before any work, so a bad one fails early and nothing is written.</summary>
    public static void CheckOut(void* p, string name, uint minimumSize) => CheckSize(p, name, minimumSize);

    /// <summary>Writes the fields this library knows into a caller's output struct (checked by <see cref="CheckOut"/>).</summary>
    public static void Write<T>(void* p, T value) where T : unmanaged
    {
        uint size = *(uint*)p;
        uint known = (uint)sizeof(T);
        Buffer.MemoryCopy(&value, p, size, Math.Min(size, known));
        *(uint*)p = size;
    }

    private static uint CheckSize(void* p, string name, uint minimumSize)
    {
        uint size = *(uint*)p;
        if (size == 0)
            throw new NativeError(Status.InvalidArgument,
                $"{name}.size is 0: set it to sizeof({name}) ({minimumSize} bytes with this library's header), e.g. with {name}_init().");
        if (size < minimumSize || size > MaxSize)
            throw new NativeError(Status.InvalidArgument,
                $"{name}.size is {size}, which is not the size of any version of {name} (this library's is {minimumSize} bytes); set it to sizeof({name}).");
        return size;
    }
}
