using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Text.Encodings.Web;
using System.Text.Json;
using AccelAes.Loader.Files;

namespace AccelAes.Loader.SafeTensors;

/// <summary>
/// Writes a safetensors file: u64 little-endian header length, JSON header padded with spaces to a multiple of
/// 8 bytes, then the tensors' little-endian bytes back to back in the order they were added. The file is written
/// through <see cref="OutputFile"/>: under a temporary name renamed into place, so an interrupted write never leaves
/// a partial file at the path, and never over anything but a regular file.
/// </summary>
public sealed class SafeTensorsWriter
{
    private sealed record Entry(string Name, SafeTensorDType DType, ImmutableArray<long> Shape, ReadOnlyMemory<byte> Data);

    private readonly List<Entry> _entries = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly OrderedDictionary<string, string> _metadata = new(StringComparer.Ordinal);

    /// <summary>Adds (or replaces) a <c>__metadata__</c> entry, e.g. <c>("format", "pt")</c>.</summary>
    public SafeTensorsWriter AddMetadata(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        _metadata[key] = value;
        return this;
    }

    /// <summary>
    /// Adds a tensor from raw little-endian bytes. The memory is not copied and must stay unchanged until
    /// <see cref="Save"/> returns.
    /// </summary>
    /// <exception cref="ArgumentException">Duplicate or reserved name, negative dimension, or a byte count that does not match the shape.</exception>
    public SafeTensorsWriter Add(string name, SafeTensorDType dtype, ReadOnlySpan<long> shape, ReadOnlyMemory<byte> data)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name == SafeTensorsHeaderParser.MetadataKey)
            throw new ArgumentException($"'{SafeTensorsHeaderParser.MetadataKey}' is reserved for metadata.", nameof(name));
        if (_names.Contains(name))
            throw new ArgumentException($"Tensor '{name}' was already added.", nameof(name));
        foreach (var dim in shape)
            if (dim < 0)
                throw new ArgumentException($"Tensor '{name}' has a negative dimension ({dim}).", nameof(shape));
        if (!SafeTensorInfo.TryCountElements(shape, out var elements) || elements > long.MaxValue / dtype.ByteSize())
            throw new ArgumentException($"Tensor '{name}' has more elements than fit in 64 bits.", nameof(shape));
        var byteLength = elements * dtype.ByteSize();
        if (byteLength != data.Length)
            throw new ArgumentException(
                $"Tensor '{name}': shape [{string.Join(", ", shape.ToArray())}] of {dtype.HeaderName()} needs "
                + $"{byteLength} bytes, got {data.Length}.", nameof(data));
        _names.Add(name);
        _entries.Add(new Entry(name, dtype, [.. shape], data));
        return this;
    }

    /// <summary>Adds float32 values stored as <paramref name="storeAs"/> (F32, F64, BF16 or F16; narrowing rounds to nearest-even).</summary>
    public SafeTensorsWriter Add(string name, ReadOnlySpan<long> shape, ReadOnlySpan<float> values,
        SafeTensorDType storeAs = SafeTensorDType.F32)
    {
        var bytes = new byte[checked(values.Length * storeAs.ByteSize())];
        DTypeConversion.FromFloat32(values, storeAs, bytes);
        return Add(name, storeAs, shape, bytes);
    }

    /// <summary>
    /// Writes the file through <see cref="OutputFile"/>: checked first (never over a folder, device, pipe or socket),
    /// then a temporary file, flushed, renamed over <paramref name="path"/>; missing folders on the way are created.
    /// </summary>
    /// <param name="what">How messages name the output: the option it came from (<c>--out</c>), or the default.</param>
    /// <exception cref="AccelAesException">The file could not be written; nothing is left at <paramref name="path"/> or beside it.</exception>
    public void Save(string path, string what = "safetensors file")
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors data is little-endian; big-endian hosts are not supported.");

        var header = BuildHeader();
        OutputFile.Write(path, what, stream =>
        {
            Span<byte> prefix = stackalloc byte[sizeof(ulong)];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            stream.Write(prefix);
            stream.Write(header);
            foreach (var entry in _entries)
                stream.Write(entry.Data.Span);
        });
    }

    private byte[] BuildHeader()
    {
        var json = new ArrayBufferWriter<byte>();
        // Relaxed escaping keeps non-ASCII tensor names readable in the header; it is still valid JSON.
        using (var writer = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            if (_metadata.Count > 0)
            {
                writer.WriteStartObject(SafeTensorsHeaderParser.MetadataKey);
                foreach (var (key, value) in _metadata)
                    writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            long offset = 0;
            foreach (var entry in _entries)
            {
                writer.WriteStartObject(entry.Name);
                writer.WriteString("dtype", entry.DType.HeaderName());
                writer.WriteStartArray("shape");
                foreach (var dim in entry.Shape) writer.WriteNumberValue(dim);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset += entry.Data.Length);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }
        // Padding to 8 bytes keeps the data section aligned for readers that map it as typed arrays.
        var padded = new byte[(json.WrittenCount + 7) / 8 * 8];
        json.WrittenSpan.CopyTo(padded);
        padded.AsSpan(json.WrittenCount).Fill((byte)' ');
        return padded;
    }
}
