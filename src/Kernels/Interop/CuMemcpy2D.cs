using System.Runtime.InteropServices;

namespace AccelAes.Kernels.Interop;

/// <summary>CUmemorytype: where an address of a <see cref="CuMemcpy2D"/> lives.</summary>
public enum CuMemoryType
{
    Host = 1,
    Device = 2,
    Array = 3,
    Unified = 4,
}

/// <summary>
/// CUDA_MEMCPY2D as cuda.h declares it since CUDA 3.2 (the _v2 layout: offsets, pitches and sizes are size_t), the
/// parameter block of <c>cuMemcpy2DAsync_v2</c>: Height rows of WidthInBytes bytes, each side at its own pitch.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct CuMemcpy2D
{
    public nuint SrcXInBytes, SrcY;
    public CuMemoryType SrcMemoryType;
    public nint SrcHost;
    public ulong SrcDevice;
    public nint SrcArray;
    public nuint SrcPitch;
    public nuint DstXInBytes, DstY;
    public CuMemoryType DstMemoryType;
    public nint DstHost;
    public ulong DstDevice;
    public nint DstArray;
    public nuint DstPitch;
    public nuint WidthInBytes, Height;

    /// <summary>A device-to-device copy of <paramref name="height"/> rows of <paramref name="widthBytes"/> bytes.</summary>
    public static CuMemcpy2D DeviceToDevice(CuDevicePtr destination, ulong destinationPitch, CuDevicePtr source, ulong sourcePitch,
        ulong widthBytes, ulong height) => new()
    {
        SrcMemoryType = CuMemoryType.Device,
        SrcDevice = source.Address,
        SrcPitch = (nuint)sourcePitch,
        DstMemoryType = CuMemoryType.Device,
        DstDevice = destination.Address,
        DstPitch = (nuint)destinationPitch,
        WidthInBytes = (nuint)widthBytes,
        Height = (nuint)height,
    };
}
