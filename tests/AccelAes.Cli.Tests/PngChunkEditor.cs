using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace AccelAes.Cli.Tests;

/// <summary>
/// Rewrites a PNG's text chunks as a user (or an attacker) editing a run record would: every non-text chunk kept as
/// it is, the text written back as uncompressed iTXt chunks with correct CRCs, or a chunk damaged on purpose.
/// </summary>
internal static class PngChunkEditor
{
    private sealed record Chunk(string Type, byte[] Data);

    /// <summary>The PNG with its text replaced by <paramref name="text"/> (in order; keys may repeat).</summary>
    public static byte[] WithText(byte[] png, IEnumerable<KeyValuePair<string, string>> text)
    {
        var chunks = Chunks(png).Where(c => c.Type is not ("tEXt" or "iTXt" or "zTXt")).ToList();
        int end = chunks.FindIndex(c => c.Type == "IEND");
        chunks.InsertRange(end, text.Select(t => new Chunk("iTXt", [.. Encoding.Latin1.GetBytes(t.Key), 0, 0, 0, 0, 0, .. Encoding.UTF8.GetBytes(t.Value)])));
        return Write(chunks);
    }

    /// <summary>The PNG with one text value changed (<paramref name="value"/> null: the key removed).</summary>
    public static byte[] WithValue(byte[] png, string key, string? value)
    {
        var text = PngText.Read(png).ToList();
        int i = text.FindIndex(t => t.Key == key);
        Assert.True(i >= 0, $"the PNG has no '{key}' text");
        if (value is null) text.RemoveAt(i);
        else text[i] = new(key, value);
        return WithText(png, text);
    }

    /// <summary>The PNG with <paramref name="key"/>'s text replaced by a zlib-compressed zTXt chunk holding <paramref name="latin1"/>.</summary>
    public static byte[] WithCompressedText(byte[] png, string key, byte[] latin1)
    {
        var chunks = Chunks(WithValue(png, key, null));
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true)) zlib.Write(latin1);
        chunks.Insert(chunks.FindIndex(c => c.Type == "IEND"), new Chunk("zTXt", [.. Encoding.Latin1.GetBytes(key), 0, 0, .. compressed.ToArray()]));
        return Write(chunks);
    }

    /// <summary>The PNG with a byte of the <paramref name="key"/> text chunk's value changed and its CRC left as it was.</summary>
    public static byte[] WithDamagedText(byte[] png, string key)
    {
        byte[] copy = png.ToArray();
        int pos = 8;
        while (pos + 12 <= copy.Length)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(copy.AsSpan(pos));
            string type = Encoding.ASCII.GetString(copy, pos + 4, 4);
            if (type == "iTXt" && copy.AsSpan(pos + 8, length).StartsWith([.. Encoding.Latin1.GetBytes(key), (byte)0]))
            {
                copy[pos + 8 + length - 1] ^= 0x01;
                return copy;
            }
            pos += 12 + length;
        }
        throw new InvalidOperationException($"no iTXt chunk '{key}'");
    }

    private static List<Chunk> Chunks(byte[] png)
    {
        var chunks = new List<Chunk>();
        int pos = 8;
        while (pos + 12 <= png.Length)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            chunks.Add(new Chunk(Encoding.ASCII.GetString(png, pos + 4, 4), png.AsSpan(pos + 8, length).ToArray()));
            pos += 12 + length;
        }
        return chunks;
    }

    private static byte[] Write(IEnumerable<Chunk> chunks)
    {
        using var output = new MemoryStream();
        output.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        Span<byte> word = stackalloc byte[4];
        foreach (var chunk in chunks)
        {
            BinaryPrimitives.WriteInt32BigEndian(word, chunk.Data.Length);
            output.Write(word);
            byte[] typeAndData = [.. Encoding.ASCII.GetBytes(chunk.Type), .. chunk.Data];
            output.Write(typeAndData);
            BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(typeAndData));
            output.Write(word);
        }
        return output.ToArray();
    }

    /// <summary>The PNG chunk CRC (reflected 0xEDB88320, bit by bit: slow and obviously right).</summary>
    private static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }
}
