using System.Buffers.Binary;
using System.Text;

namespace AccelAes.Loader.Tests.SafeTensors;

/// <summary>Builds safetensors bytes by hand, including deliberately broken ones.</summary>
internal static class RawFile
{
    /// <summary>Length prefix + header text (unpadded unless given padded) + <paramref name="dataLength"/> data bytes (pattern-filled).</summary>
    public static byte[] Build(string header, int dataLength, ulong? declaredHeaderLength = null)
    {
        var headerBytes = Encoding.UTF8.GetBytes(header);
        return Build(headerBytes, dataLength, declaredHeaderLength);
    }

    public static byte[] Build(byte[] headerBytes, int dataLength, ulong? declaredHeaderLength = null)
    {
        var bytes = new byte[8 + headerBytes.Length + dataLength];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredHeaderLength ?? (ulong)headerBytes.Length);
        headerBytes.CopyTo(bytes, 8);
        for (var i = 0; i < dataLength; i++)
            bytes[8 + headerBytes.Length + i] = (byte)(i * 7 + 3);
        return bytes;
    }

    /// <summary>A header entry in JSON: <c>"name":{"dtype":..,"shape":[..],"data_offsets":[b,e]}</c>.</summary>
    public static string Entry(string name, string dtype, long[] shape, long begin, long end) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{begin},{end}]}}";
}
