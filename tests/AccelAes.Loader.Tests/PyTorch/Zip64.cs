using System.Buffers.Binary;

namespace AccelAes.Loader.Tests.PyTorch;

/// <summary>
/// Rewrites a small zip's central directory in ZIP64 form (APPNOTE 4.3.14–4.3.16, 4.5.3): every entry's sizes and
/// local header offset saturated to 0xFFFFFFFF with the real values in a ZIP64 extra field, and the end record
/// pointing to a ZIP64 end record through its locator — what archives past 4 GB carry.
/// </summary>
internal static class Zip64
{
    internal static byte[] Rewrite(byte[] zip)
    {
        var end = zip.Length - 22;
        Assert.Equal(0x06054b50u, BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(end)));
        int count = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(end + 10));
        var directoryOffset = (int)BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(end + 16));

        using var output = new MemoryStream();
        output.Write(zip, 0, directoryOffset);
        var at = directoryOffset;
        for (var i = 0; i < count; i++)
        {
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(at + 28));
            int extraLength = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(at + 30));
            int commentLength = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(at + 32));
            var header = zip.AsSpan(at, 46).ToArray();
            var compressed = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(20));
            var size = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(24));
            var offset = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(42));
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(20), uint.MaxValue);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(24), uint.MaxValue);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(42), uint.MaxValue);
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(30), (ushort)(extraLength + 28));
            output.Write(header);
            output.Write(zip, at + 46, nameLength);
            var extra = new byte[28];
            BinaryPrimitives.WriteUInt16LittleEndian(extra, 0x0001);
            BinaryPrimitives.WriteUInt16LittleEndian(extra.AsSpan(2), 24);
            BinaryPrimitives.WriteUInt64LittleEndian(extra.AsSpan(4), size);          // order: uncompressed,
            BinaryPrimitives.WriteUInt64LittleEndian(extra.AsSpan(12), compressed);   // compressed,
            BinaryPrimitives.WriteUInt64LittleEndian(extra.AsSpan(20), offset);       // local header offset
            output.Write(extra);
            output.Write(zip, at + 46 + nameLength, extraLength + commentLength);
            at += 46 + nameLength + extraLength + commentLength;
        }
        var directorySize = output.Length - directoryOffset;
        var zip64End = output.Length;

        var record = new byte[56];
        BinaryPrimitives.WriteUInt32LittleEndian(record, 0x06064b50);
        BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(4), 44);
        BinaryPrimitives.WriteUInt16LittleEndian(record.AsSpan(12), 45);
        BinaryPrimitives.WriteUInt16LittleEndian(record.AsSpan(14), 45);
        BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(24), (ulong)count);
        BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(32), (ulong)count);
        BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(40), (ulong)directorySize);
        BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(48), (ulong)directoryOffset);
        output.Write(record);

        var locator = new byte[20];
        BinaryPrimitives.WriteUInt32LittleEndian(locator, 0x07064b50);
        BinaryPrimitives.WriteUInt64LittleEndian(locator.AsSpan(8), (ulong)zip64End);
        BinaryPrimitives.WriteUInt32LittleEndian(locator.AsSpan(16), 1);
        output.Write(locator);

        var endRecord = new byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(endRecord, 0x06054b50);
        BinaryPrimitives.WriteUInt16LittleEndian(endRecord.AsSpan(8), ushort.MaxValue);
        BinaryPrimitives.WriteUInt16LittleEndian(endRecord.AsSpan(10), ushort.MaxValue);
        BinaryPrimitives.WriteUInt32LittleEndian(endRecord.AsSpan(12), uint.MaxValue);
        BinaryPrimitives.WriteUInt32LittleEndian(endRecord.AsSpan(16), uint.MaxValue);
        output.Write(endRecord);
        return output.ToArray();
    }
}
