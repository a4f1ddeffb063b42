using System.Text.Json;
using System.Text.Unicode;
using AccelAes.Loader.Files;

namespace AccelAes.Loader.SafeTensors;

/// <summary>
/// The <c>weight_map</c> of a sharded checkpoint's <c>*.safetensors.index.json</c>: tensor name → shard file name.
/// Shard names must be plain file names in the index's folder, so a hostile index cannot point elsewhere.
/// </summary>
internal sealed class ShardIndex
{
    // Real indexes are well under a megabyte even for the largest models.
    private const long MaxIndexBytes = 100_000_000;

    private ShardIndex(string path, IReadOnlyList<KeyValuePair<string, string>> weightMap)
    {
        Path = path;
        WeightMap = weightMap;
    }

    internal string Path { get; }

    /// <summary>Tensor name → shard file name, in index order.</summary>
    internal IReadOnlyList<KeyValuePair<string, string>> WeightMap { get; }

    internal static ShardIndex Read(string path)
    {
        byte[] json;
        try
        {
            // Regular files only (a FIFO would block the read), at most MaxIndexBytes.
            json = InputFile.ReadAllBytes(path, MaxIndexBytes, "Shard index");
        }
        catch (InputFileException e)
        {
            throw new SafeTensorsFormatException(
                e.Kind == FileEntryKind.RegularFile ? SafeTensorsProblem.Unreadable : SafeTensorsProblem.NotAFile, path, null, e.Message, e);
        }
        if (!Utf8.IsValid(json))
            throw Invalid(path, "the index is not valid UTF-8.");

        try
        {
            var reader = new Utf8JsonReader(json);
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
                throw Invalid(path, "the index must be a JSON object with a 'weight_map'.");
            List<KeyValuePair<string, string>>? weightMap = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("weight_map"u8))
                {
                    if (weightMap is not null)
                        throw Invalid(path, "'weight_map' appears twice.");
                    weightMap = ReadWeightMap(ref reader, path);
                }
                else
                {
                    reader.Skip();
                }
            }
            if (reader.Read())
                throw Invalid(path, "unexpected content after the index object.");
            if (weightMap is null)
                throw Invalid(path, "the index has no 'weight_map'.");
            if (weightMap.Count == 0)
                throw Invalid(path, "'weight_map' is empty.");
            return new ShardIndex(path, weightMap);
        }
        catch (JsonException e)
        {
            throw Invalid(path, $"the index is not valid JSON: {e.Message}", e);
        }
    }

    private static List<KeyValuePair<string, string>> ReadWeightMap(ref Utf8JsonReader reader, string path)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
            throw Invalid(path, "'weight_map' must be an object mapping tensor names to shard file names.");
        var map = new List<KeyValuePair<string, string>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var tensor = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
                throw new SafeTensorsFormatException(SafeTensorsProblem.InvalidIndex, path, tensor,
                    "its 'weight_map' value must be a shard file name (a string).");
            var shard = reader.GetString()!;
            if (!IsPlainFileName(shard))
                throw new SafeTensorsFormatException(SafeTensorsProblem.InvalidIndex, path, tensor,
                    $"shard file name {SafeTensorsFormatException.QuoteForMessage(shard)} must be a file name in the index's folder, without a directory part.");
            if (!seen.Add(tensor))
                throw new SafeTensorsFormatException(SafeTensorsProblem.InvalidIndex, path, tensor,
                    "the name appears twice in 'weight_map'.");
            map.Add(new(tensor, shard));
        }
        return map;
    }

    private static bool IsPlainFileName(string name) =>
        name.Length > 0 && name is not "." and not ".." && name.IndexOfAny(['/', '\\', '\0']) < 0
        && !System.IO.Path.IsPathRooted(name);

    private static SafeTensorsFormatException Invalid(string path, string detail, Exception? inner = null) =>
        new(SafeTensorsProblem.InvalidIndex, path, null, detail, inner);
}
