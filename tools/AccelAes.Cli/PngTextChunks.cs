using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using AccelAes.Loader.Files;
using AccelAes.Loader.Validation;

namespace AccelAes.Cli;

/// <summary>
/// Reads the text chunks of a PNG file (tEXt, zTXt, iTXt) as keyword → text, treating the file as hostile
/// (DESIGN.md §7): only a regular file is opened; the signature, every chunk length and the chunk order are checked;
/// text chunks are read only after their CRC matches, decompressed within <see cref="InputLimits.MaxPngTextBytes"/>,
/// and a keyword that appears twice is an error (a record with two seeds reproduces nothing). Image data is skipped
/// unread: the record is all that is needed, and the image is regenerated. BigGustave, which writes the PNGs, has no
/// reader for text chunks.
/// </summary>
internal static class PngTextChunks
{
    private static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>The largest chunk length the PNG specification allows (2³¹ − 1).</summary>
    private const uint MaxChunkLength = int.MaxValue;

    /// <summary>The text chunks of <paramref name="path"/>; <paramref name="what"/> names it in messages (e.g. "--from 'a.png'").</summary>
    /// <exception cref="AccelAesException">Not a readable regular file, not a PNG, or a damaged chunk; the message says which.</exception>
    public static IReadOnlyDictionary<string, string> Read(string path, string what)
    {
        string fullPath = InputFile.RequireRegularFile(path, what);
        try
        {
            using var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
            return Read(stream, $"{what} '{path}'");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AccelAesException($"{what} '{path}' cannot be read: {e.Message}", e);
        }
    }

    private static Dictionary<string, string> Read(Stream stream, string what)
    {
        Span<byte> head = stackalloc byte[8];
        if (!TryFill(stream, head) || !head.SequenceEqual(Signature))
            throw new AccelAesException($"{what} is not a PNG file (no PNG signature).");

        var text = new Dictionary<string, string>(StringComparer.Ordinal);
        long textBytes = 0;
        for (int chunk = 0; ; chunk++)
        {
            if (chunk >= InputLimits.MaxPngChunks)
                throw new AccelAesException($"{what} has more than {InputLimits.MaxPngChunks} chunks; no real PNG has that many.");
            if (!TryFill(stream, head))
                throw new AccelAesException($"{what} ends without an IEND chunk (the file is truncated).");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(head);
            string type = ChunkType(head[4..], what);
            if (length > MaxChunkLength) throw new AccelAesException($"{what}: chunk {type} claims {length} bytes, more than a PNG chunk may hold.");
            if (length > stream.Length - stream.Position - 4)
                throw new AccelAesException($"{what}: chunk {type} claims {length} bytes but the file ends before them (the file is truncated).");
            if (chunk == 0 && type != "IHDR") throw new AccelAesException($"{what} does not start with an IHDR chunk; it is not a valid PNG.");
            if (type == "IEND") return text;
            if (type is not ("tEXt" or "zTXt" or "iTXt"))
            {
                stream.Seek(length + 4L, SeekOrigin.Current); // data and CRC of a chunk the record does not need
                continue;
            }

            textBytes += length;
            if (textBytes > InputLimits.MaxPngTextBytes)
                throw new AccelAesException($"{what} holds more than {InputLimits.MaxPngTextBytes} bytes of text; a run record is a few KB.");
            var data = new byte[4 + length + 4]; // type, data, CRC: the CRC covers the type and the data
            head[4..].CopyTo(data);
            if (!TryFill(stream, data.AsSpan(4))) throw new AccelAesException($"{what}: chunk {type} is truncated.");
            uint stored = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(data.Length - 4));
            if (System.IO.Hashing.Crc32.HashToUInt32(data.AsSpan(0, data.Length - 4)) != stored)
                throw new AccelAesException($"{what}: a {type} chunk fails its CRC check (the file is damaged or was edited without updating the CRC).");

            var (keyword, value) = Decode(type, data.AsSpan(4, (int)length), what, ref textBytes);
            if (!text.TryAdd(keyword, value))
                throw new AccelAesException($"{what} holds the text key '{keyword}' twice; which one was meant is unknown.");
        }
    }

    private static (string Keyword, string Text) Decode(string type, ReadOnlySpan<byte> data, string what, ref long textBytes)
    {
        int nul = data.IndexOf((byte)0);
        if (nul is < 1 or > 79) throw new AccelAesException($"{what}: a {type} chunk has no valid keyword (1–79 bytes ended by a NUL).");
        string keyword = Encoding.Latin1.GetString(data[..nul]);
        ReadOnlySpan<byte> rest = data[(nul + 1)..];
        switch (type)
        {
            case "tEXt":
                return (keyword, Encoding.Latin1.GetString(rest));
            case "zTXt":
                if (rest.IsEmpty || rest[0] != 0) throw new AccelAesException($"{what}: the zTXt chunk '{keyword}' uses an unknown compression method.");
                return (keyword, Encoding.Latin1.GetString(Inflate(rest[1..], keyword, what, ref textBytes)));
            default: // iTXt: compression flag, method, language NUL, translated keyword NUL, UTF-8 text
                if (rest.Length < 2 || rest[0] > 1 || rest[1] != 0)
                    throw new AccelAesException($"{what}: the iTXt chunk '{keyword}' has an invalid compression flag or method.");
                bool compressed = rest[0] == 1;
                rest = rest[2..];
                for (int field = 0; field < 2; field++)
                {
                    int end = rest.IndexOf((byte)0);
                    if (end < 0) throw new AccelAesException($"{what}: the iTXt chunk '{keyword}' is truncated.");
                    rest = rest[(end + 1)..];
                }
                byte[] utf8 = compressed ? Inflate(rest, keyword, what, ref textBytes) : rest.ToArray();
                try
                {
                    return (keyword, new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(utf8));
                }
                catch (DecoderFallbackException)
                {
                    throw new AccelAesException($"{what}: the iTXt chunk '{keyword}' is not valid UTF-8.");
                }
        }
    }

    /// <summary>zlib data, inflated no further than the text budget left (a small chunk may claim gigabytes).</summary>
    private static byte[] Inflate(ReadOnlySpan<byte> compressed, string keyword, string what, ref long textBytes)
    {
        long budget = InputLimits.MaxPngTextBytes - textBytes;
        using var output = new MemoryStream();
        try
        {
            using var zlib = new ZLibStream(new MemoryStream(compressed.ToArray()), CompressionMode.Decompress);
            var buffer = new byte[1 << 16];
            int n;
            while ((n = zlib.Read(buffer)) > 0)
            {
                if (output.Length + n > budget)
                    throw new AccelAesException($"{what}: the text chunk '{keyword}' inflates past the {InputLimits.MaxPngTextBytes}-byte limit on a PNG's text.");
                output.Write(buffer, 0, n);
            }
        }
        catch (InvalidDataException e)
        {
            throw new AccelAesException($"{what}: the compressed text chunk '{keyword}' cannot be inflated: {e.Message}", e);
        }
        textBytes += output.Length;
        return output.ToArray();
    }

    private static string ChunkType(ReadOnlySpan<byte> type, string what)
    {
        foreach (byte b in type)
            if (!(b is >= (byte)'A' and <= (byte)'Z' or >= (byte)'a' and <= (byte)'z'))
                throw new AccelAesException($"{what} holds a chunk whose type is not four letters; the file is damaged or not a PNG.");
        return Encoding.ASCII.GetString(type);
    }

    /// <summary>Fills <paramref name="buffer"/>; false when the stream ends first.</summary>
    private static bool TryFill(Stream stream, Span<byte> buffer)
    {
        int filled = 0;
        while (filled < buffer.Length)
        {
            int n = stream.Read(buffer[filled..]);
            if (n == 0) return false;
            filled += n;
        }
        return true;
    }
}
