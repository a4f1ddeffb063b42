using System.Collections.ObjectModel;
using System.Text.Json;
using System.Text.Unicode;

namespace AccelAes.Loader.SafeTensors;

/// <summary>
/// Parses and validates a safetensors JSON header against the data section it describes.
/// Works on the mapped bytes directly with <see cref="Utf8JsonReader"/>, which (unlike a DOM parse) lets us see
/// duplicate keys, and keeps memory proportional to the header, which the caller has already bounded.
/// </summary>
internal static class SafeTensorsHeaderParser
{
    internal const string MetadataKey = "__metadata__";

    internal sealed record ParsedHeader(IReadOnlyDictionary<string, string> Metadata, SafeTensorInfo[] TensorsByOffset);

    private sealed record RawEntry(string Name, string DType, long[] Shape, long Begin, long End);

    /// <param name="header">The JSON bytes (without the 8-byte length prefix).</param>
    /// <param name="filePath">Used for error messages and stored in each <see cref="SafeTensorInfo"/>.</param>
    /// <param name="dataStart">File offset of the data section (8 + header length).</param>
    /// <param name="dataLength">Size of the data section in bytes.</param>
    internal static ParsedHeader Parse(ReadOnlySpan<byte> header, string filePath, long dataStart, long dataLength)
    {
        if (header.IsEmpty)
            throw Error(SafeTensorsProblem.InvalidJson, filePath, null, "the header is empty (declared length 0).");
        if (!Utf8.IsValid(header))
            throw Error(SafeTensorsProblem.InvalidJson, filePath, null, "the header is not valid UTF-8.");

        var metadata = (IReadOnlyDictionary<string, string>)ReadOnlyDictionary<string, string>.Empty;
        var entries = new List<RawEntry>();
        try
        {
            var reader = new Utf8JsonReader(header, new JsonReaderOptions
            {
                CommentHandling = JsonCommentHandling.Disallow,
                AllowTrailingCommas = false,
            });
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
                throw Error(SafeTensorsProblem.NotAnObject, filePath, null,
                    $"the header must be a JSON object, found {Describe(reader.TokenType)}.");
            // The spec requires '{' as the very first byte; the reader would accept leading whitespace.
            if (header[0] != (byte)'{')
                throw Error(SafeTensorsProblem.InvalidJson, filePath, null,
                    "the header must begin with '{' (leading whitespace is not allowed).");

            var names = new HashSet<string>(StringComparer.Ordinal);
            var sawMetadata = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString()!;
                if (name == MetadataKey)
                {
                    if (sawMetadata)
                        throw Error(SafeTensorsProblem.DuplicateName, filePath, null,
                            $"'{MetadataKey}' appears twice in the header.");
                    sawMetadata = true;
                    metadata = ReadMetadata(ref reader, filePath);
                }
                else
                {
                    if (!names.Add(name))
                        throw Error(SafeTensorsProblem.DuplicateName, filePath, name,
                            "the name appears twice in the header.");
                    entries.Add(ReadEntry(ref reader, filePath, name));
                }
            }
            // Anything but trailing whitespace after the root object makes the reader throw here.
            if (reader.Read())
                throw Error(SafeTensorsProblem.InvalidJson, filePath, null, "unexpected content after the header object.");
        }
        catch (JsonException e)
        {
            throw Error(SafeTensorsProblem.InvalidJson, filePath, null,
                $"the header is not valid JSON: {e.Message}", e);
        }

        var tensors = new SafeTensorInfo[entries.Count];
        for (var i = 0; i < entries.Count; i++)
            tensors[i] = Validate(entries[i], filePath, dataStart, dataLength);
        Array.Sort(tensors, CompareByOffset);
        CheckCoverage(tensors, filePath, dataStart, dataLength);
        return new ParsedHeader(metadata, tensors);
    }

    private static IReadOnlyDictionary<string, string> ReadMetadata(ref Utf8JsonReader reader, string filePath)
    {
        reader.Read();
        // The reference implementation reads "__metadata__": null as "no metadata"; files in the wild rely on it.
        if (reader.TokenType == JsonTokenType.Null)
            return ReadOnlyDictionary<string, string>.Empty;
        if (reader.TokenType != JsonTokenType.StartObject)
            throw Error(SafeTensorsProblem.InvalidMetadata, filePath, null,
                $"'{MetadataKey}' must be an object mapping strings to strings, found {Describe(reader.TokenType)}.");

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var key = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
                throw Error(SafeTensorsProblem.InvalidMetadata, filePath, null,
                    $"'{MetadataKey}' value of key {SafeTensorsFormatException.QuoteForMessage(key)} must be a string, found {Describe(reader.TokenType)}.");
            if (!metadata.TryAdd(key, reader.GetString()!))
                throw Error(SafeTensorsProblem.InvalidMetadata, filePath, null,
                    $"'{MetadataKey}' key {SafeTensorsFormatException.QuoteForMessage(key)} appears twice.");
        }
        return new ReadOnlyDictionary<string, string>(metadata);
    }

    private static RawEntry ReadEntry(ref Utf8JsonReader reader, string filePath, string name)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
            throw Error(SafeTensorsProblem.EntryNotAnObject, filePath, name,
                $"the entry must be an object with dtype, shape and data_offsets, found {Describe(reader.TokenType)}.");

        string? dtype = null;
        long[]? shape = null;
        (long Begin, long End)? offsets = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("dtype"u8))
            {
                CheckFirst(dtype is null, "dtype", filePath, name);
                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                    throw Error(SafeTensorsProblem.InvalidField, filePath, name,
                        $"'dtype' must be a string, found {Describe(reader.TokenType)}.");
                dtype = reader.GetString()!;
            }
            else if (reader.ValueTextEquals("shape"u8))
            {
                CheckFirst(shape is null, "shape", filePath, name);
                shape = ReadShape(ref reader, filePath, name);
            }
            else if (reader.ValueTextEquals("data_offsets"u8))
            {
                CheckFirst(offsets is null, "data_offsets", filePath, name);
                offsets = ReadOffsets(ref reader, filePath, name);
            }
            else
            {
                // Unknown fields are ignored, as the reference implementation does, so newer writers stay readable.
                reader.Skip();
            }
        }

        if (dtype is null) throw MissingField("dtype", filePath, name);
        if (shape is null) throw MissingField("shape", filePath, name);
        if (offsets is null) throw MissingField("data_offsets", filePath, name);
        return new RawEntry(name, dtype, shape, offsets.Value.Begin, offsets.Value.End);
    }

    private static long[] ReadShape(ref Utf8JsonReader reader, string filePath, string name)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray)
            throw Error(SafeTensorsProblem.InvalidField, filePath, name,
                $"'shape' must be an array of integers, found {Describe(reader.TokenType)}.");
        var dims = new List<long>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var dim))
                throw Error(SafeTensorsProblem.InvalidField, filePath, name,
                    $"'shape' entry {dims.Count} must be an integer that fits in 64 bits, found {Describe(ref reader)}.");
            if (dim < 0)
                throw Error(SafeTensorsProblem.NegativeDimension, filePath, name,
                    $"'shape' entry {dims.Count} is negative ({dim}).");
            dims.Add(dim);
        }
        return dims.ToArray();
    }

    private static (long Begin, long End) ReadOffsets(ref Utf8JsonReader reader, string filePath, string name)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray)
            throw Error(SafeTensorsProblem.InvalidField, filePath, name,
                $"'data_offsets' must be an array [begin, end], found {Describe(reader.TokenType)}.");
        Span<long> values = stackalloc long[2];
        var count = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (count == 2)
                throw Error(SafeTensorsProblem.InvalidField, filePath, name,
                    "'data_offsets' must hold exactly two integers [begin, end], found more.");
            if (reader.TokenType != JsonTokenType.Number)
                throw Error(SafeTensorsProblem.InvalidField, filePath, name,
                    $"'data_offsets' entry {count} must be an integer, found {Describe(reader.TokenType)}.");
            if (!reader.TryGetInt64(out values[count]))
            {
                // A whole number too big for a long cannot lie inside any file we could map.
                if (reader.TryGetUInt64(out var huge))
                    throw Error(SafeTensorsProblem.OffsetsOutOfRange, filePath, name,
                        $"'data_offsets' entry {count} ({huge}) is past the end of the data section.");
                throw Error(SafeTensorsProblem.InvalidField, filePath, name,
                    $"'data_offsets' entry {count} must be an integer, found {Describe(ref reader)}.");
            }
            if (values[count] < 0)
                throw Error(SafeTensorsProblem.InvalidOffsets, filePath, name,
                    $"'data_offsets' entry {count} is negative ({values[count]}).");
            count++;
        }
        if (count != 2)
            throw Error(SafeTensorsProblem.InvalidField, filePath, name,
                $"'data_offsets' must hold exactly two integers [begin, end], found {count}.");
        return (values[0], values[1]);
    }

    private static SafeTensorInfo Validate(RawEntry entry, string filePath, long dataStart, long dataLength)
    {
        var name = entry.Name;
        if (!SafeTensorDTypes.TryParse(entry.DType, out var dtype))
            throw Error(SafeTensorsProblem.UnknownDType, filePath, name,
                $"unknown or unsupported dtype {SafeTensorsFormatException.QuoteForMessage(entry.DType)} (known: "
                + string.Join(", ", SafeTensorDTypes.Supported.Select(d => d.HeaderName())) + ").");

        if (!SafeTensorInfo.TryCountElements(entry.Shape, out var elementCount)
            || Math.BigMul(elementCount, dtype.ByteSize(), out var byteLength) != 0 || byteLength < 0)
            throw Error(SafeTensorsProblem.ElementCountOverflow, filePath, name,
                $"shape [{string.Join(", ", entry.Shape)}] of {dtype.HeaderName()} has more elements or bytes than fit in 64 bits.");

        if (entry.Begin > entry.End)
            throw Error(SafeTensorsProblem.InvalidOffsets, filePath, name,
                $"data_offsets [{entry.Begin}, {entry.End}] are reversed (begin > end).");
        if (entry.End > dataLength)
            throw Error(SafeTensorsProblem.OffsetsOutOfRange, filePath, name,
                $"data_offsets [{entry.Begin}, {entry.End}] reach past the end of the {dataLength}-byte data section.");
        if (entry.End - entry.Begin != byteLength)
            throw Error(SafeTensorsProblem.ByteLengthMismatch, filePath, name,
                $"shape [{string.Join(", ", entry.Shape)}] of {dtype.HeaderName()} needs {byteLength} bytes, "
                + $"but data_offsets [{entry.Begin}, {entry.End}] span {entry.End - entry.Begin}.");

        return new SafeTensorInfo(name, dtype, entry.Shape, elementCount, byteLength,
            dataStart + entry.Begin, filePath);
    }

    private static int CompareByOffset(SafeTensorInfo a, SafeTensorInfo b)
    {
        var byStart = a.FileOffset.CompareTo(b.FileOffset);
        if (byStart != 0) return byStart;
        var byLength = a.ByteLength.CompareTo(b.ByteLength);
        return byLength != 0 ? byLength : string.CompareOrdinal(a.Name, b.Name);
    }

    /// <summary>The tensors (sorted by offset) must tile the data section exactly: no overlap, no gap, no tail.</summary>
    private static void CheckCoverage(SafeTensorInfo[] sorted, string filePath, long dataStart, long dataLength)
    {
        long coveredTo = 0;
        SafeTensorInfo? reachingFurthest = null;
        foreach (var tensor in sorted)
        {
            var begin = tensor.FileOffset - dataStart;
            if (begin < coveredTo)
                throw Error(SafeTensorsProblem.OverlappingTensors, filePath, tensor.Name,
                    $"its bytes [{begin}, {begin + tensor.ByteLength}) overlap those of tensor "
                    + $"{SafeTensorsFormatException.QuoteForMessage(reachingFurthest!.Name)} "
                    + $"[{reachingFurthest.FileOffset - dataStart}, {coveredTo}).");
            if (begin > coveredTo)
                throw Error(SafeTensorsProblem.DataGap, filePath, tensor.Name,
                    $"data bytes [{coveredTo}, {begin}) before this tensor belong to no tensor.");
            var end = begin + tensor.ByteLength;
            if (end > coveredTo || reachingFurthest is null)
            {
                coveredTo = end;
                reachingFurthest = tensor;
            }
        }
        if (coveredTo != dataLength)
            throw Error(SafeTensorsProblem.TrailingBytes, filePath, null,
                $"the last {dataLength - coveredTo} bytes of the {dataLength}-byte data section belong to no tensor.");
    }

    private static void CheckFirst(bool first, string field, string filePath, string name)
    {
        if (!first)
            throw Error(SafeTensorsProblem.InvalidField, filePath, name, $"'{field}' appears twice in the entry.");
    }

    private static SafeTensorsFormatException MissingField(string field, string filePath, string name) =>
        Error(SafeTensorsProblem.MissingField, filePath, name, $"the entry has no '{field}' field.");

    private static SafeTensorsFormatException Error(SafeTensorsProblem problem, string filePath, string? tensor,
        string detail, Exception? inner = null) => new(problem, filePath, tensor, detail, inner);

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => token.ToString(),
    };

    private static string Describe(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.Number)
            return Describe(reader.TokenType);
        var raw = reader.HasValueSequence ? "?" : System.Text.Encoding.UTF8.GetString(reader.ValueSpan);
        return raw.Length > 40 ? $"the number {raw[..40]}…" : $"the number {raw}";
    }
}
