using System.Buffers.Binary;
using System.Text;

namespace AccelAes.Loader.PyTorch;

/// <summary>One record of a zip archive: its name and where its (uncompressed) bytes lie in the file.</summary>
internal sealed record ZipStoredEntry(string Name, long DataOffset, long Size);

/// <summary>
/// Reads the central directory of a zip archive held in memory (a mapped file) and returns, for each record, the
/// file offset of its bytes, so tensors can be served straight from the mapping. <c>torch.save</c> writes every record
/// uncompressed (stored) with ZIP64 extensions, so that is all this accepts: a compressed or encrypted record is
/// refused rather than inflated. System.IO.Compression's <c>ZipArchive</c> reads the same directory but does not
/// expose a record's data offset, which the zero-copy mapping needs; hence this small reader.
/// </summary>
/// <remarks>
/// Layout from the zip application note (PKWARE APPNOTE 4.3.x, sections 4.3.7, 4.3.12, 4.3.14–16, 4.5.3). Every offset
/// and size the file claims is checked against the file length before it is used.
/// </remarks>
internal static unsafe class ZipStoredEntries
{
    private const uint LocalHeaderSignature = 0x04034b50;
    private const uint CentralHeaderSignature = 0x02014b50;
    private const uint EndSignature = 0x06054b50;
    private const uint Zip64EndSignature = 0x06064b50;
    private const uint Zip64LocatorSignature = 0x07064b50;
    private const int EndRecordBytes = 22, Zip64LocatorBytes = 20, Zip64EndBytes = 56;
    private const int CentralHeaderBytes = 46, LocalHeaderBytes = 30;
    private const ushort Zip64ExtraId = 0x0001;

    /// <summary>The archive's records by name, in directory order.</summary>
    /// <exception cref="PyTorchCheckpointException">The zip structure is broken or a record is compressed.</exception>
    internal static IReadOnlyList<ZipStoredEntry> Read(byte* file, long length, string path)
    {
        var end = FindEndRecord(file, length, path);
        long entryCount = U16(file, end + 10);
        long directorySize = U32(file, end + 12);
        long directoryOffset = U32(file, end + 16);
        if (entryCount == ushort.MaxValue || directorySize == uint.MaxValue || directoryOffset == uint.MaxValue)
            (entryCount, directorySize, directoryOffset) = ReadZip64End(file, end, path);

        if (directoryOffset < 0 || directorySize < 0 || directoryOffset > end || directorySize > end - directoryOffset)
            throw Broken(path, $"the central directory ({directorySize} bytes at offset {directoryOffset}) lies outside the file.");
        // Every directory entry takes at least 46 bytes, which bounds the count by the file before anything is allocated.
        if (entryCount > directorySize / CentralHeaderBytes)
            throw Broken(path, $"the directory claims {entryCount} records, more than its {directorySize} bytes can hold.");

        // The count is bounded by the file, not by an int: grow the list instead of trusting it for the capacity.
        var entries = new List<ZipStoredEntry>((int)Math.Min(entryCount, 1024));
        var names = new HashSet<string>(StringComparer.Ordinal);
        var cursor = directoryOffset;
        var directoryEnd = directoryOffset + directorySize;
        for (long i = 0; i < entryCount; i++)
        {
            var entry = ReadCentralEntry(file, ref cursor, directoryEnd, directoryOffset, path);
            if (!names.Add(entry.Name))
                throw Broken(path, $"record '{entry.Name}' appears twice.");
            entries.Add(entry);
        }
        return entries;
    }

    private static long FindEndRecord(byte* file, long length, string path)
    {
        if (length < EndRecordBytes)
            throw Broken(path, $"the file has {length} bytes, too few for a zip archive (truncated?).");
        // The end record sits before a comment of at most 65535 bytes.
        var lowest = Math.Max(0, length - EndRecordBytes - ushort.MaxValue);
        for (var at = length - EndRecordBytes; at >= lowest; at--)
            if (U32(file, at) == EndSignature && at + EndRecordBytes + U16(file, at + 20) == length)
                return at;
        throw Broken(path, "no zip end-of-central-directory record was found (the file is truncated or not a zip archive).");
    }

    private static (long Count, long Size, long Offset) ReadZip64End(byte* file, long end, string path)
    {
        var locator = end - Zip64LocatorBytes;
        if (locator < 0 || U32(file, locator) != Zip64LocatorSignature)
            throw Broken(path, "the end record points to ZIP64 fields, but the ZIP64 locator is missing.");
        var record = U64(file, locator + 8);
        if (record < 0 || record > locator - Zip64EndBytes || U32(file, record) != Zip64EndSignature)
            throw Broken(path, $"the ZIP64 end record offset {record} is invalid.");
        return (U64(file, record + 32), U64(file, record + 40), U64(file, record + 48));
    }

    private static ZipStoredEntry ReadCentralEntry(byte* file, ref long cursor, long directoryEnd, long dataLimit, string path)
    {
        if (directoryEnd - cursor < CentralHeaderBytes || U32(file, cursor) != CentralHeaderSignature)
            throw Broken(path, $"the central directory entry at offset {cursor} is truncated or corrupt.");
        var flags = U16(file, cursor + 8);
        var method = U16(file, cursor + 10);
        long compressedSize = U32(file, cursor + 20);
        long size = U32(file, cursor + 24);
        int nameLength = U16(file, cursor + 28), extraLength = U16(file, cursor + 30), commentLength = U16(file, cursor + 32);
        long localHeader = U32(file, cursor + 42);
        var variable = cursor + CentralHeaderBytes;
        if (directoryEnd - variable < (long)nameLength + extraLength + commentLength)
            throw Broken(path, $"the central directory entry at offset {cursor} runs past the directory.");
        var name = DecodeName(file + variable, nameLength, path);
        ReadZip64Extra(file + variable + nameLength, extraLength, ref size, ref compressedSize, ref localHeader);
        cursor = variable + nameLength + extraLength + commentLength;

        if ((flags & 1) != 0)
            throw Broken(path, $"record '{name}' is encrypted.");
        if (method != 0 || compressedSize != size)
            throw Broken(path, $"record '{name}' is compressed (method {method}); torch.save stores records uncompressed, "
                + "and this reader maps them without inflating.");
        if (localHeader < 0 || localHeader > dataLimit - LocalHeaderBytes || U32(file, localHeader) != LocalHeaderSignature)
            throw Broken(path, $"record '{name}' has an invalid local header offset {localHeader}.");
        var dataOffset = localHeader + LocalHeaderBytes + U16(file, localHeader + 26) + U16(file, localHeader + 28);
        if (size < 0 || dataOffset > dataLimit || size > dataLimit - dataOffset)
            throw Broken(path, $"record '{name}' ({size} bytes at offset {dataOffset}) runs past the end of the data "
                + "(the file is truncated).");
        return new ZipStoredEntry(name, dataOffset, size);
    }

    // ZIP64 extended information: only the fields whose 32-bit slot is saturated are present, in this order.
    private static void ReadZip64Extra(byte* extra, int length, ref long size, ref long compressedSize, ref long localHeader)
    {
        var at = 0;
        while (length - at >= 4)
        {
            var id = BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(extra + at, 2));
            var fieldLength = BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(extra + at + 2, 2));
            var body = at + 4;
            if (fieldLength > length - body)
                return;
            if (id == Zip64ExtraId)
            {
                var field = new ReadOnlySpan<byte>(extra + body, fieldLength);
                var read = 0;
                if (size == uint.MaxValue) size = NextU64(field, ref read);
                if (compressedSize == uint.MaxValue) compressedSize = NextU64(field, ref read);
                if (localHeader == uint.MaxValue) localHeader = NextU64(field, ref read);
                return;
            }
            at = body + fieldLength;
        }
    }

    // A missing field reads as -1, which the range checks then refuse.
    private static long NextU64(ReadOnlySpan<byte> field, ref int read)
    {
        if (field.Length - read < 8)
            return -1;
        var value = (long)BinaryPrimitives.ReadUInt64LittleEndian(field.Slice(read, 8));
        read += 8;
        return value;
    }

    private static string DecodeName(byte* bytes, int length, string path)
    {
        try
        {
            return new UTF8Encoding(false, true).GetString(bytes, length);
        }
        catch (DecoderFallbackException e)
        {
            throw Broken(path, "a record name is not valid UTF-8.", e);
        }
    }

    private static ushort U16(byte* file, long at) => BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(file + at, 2));
    private static uint U32(byte* file, long at) => BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(file + at, 4));
    // A value past long.MaxValue comes back negative, which every caller treats as out of range.
    private static long U64(byte* file, long at) => (long)BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(file + at, 8));

    private static PyTorchCheckpointException Broken(string path, string detail, Exception? inner = null) =>
        new(PyTorchCheckpointProblem.InvalidZip, path, "broken zip archive: " + detail, inner);
}
